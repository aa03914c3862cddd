"""The Scrapy project settings `scrapy.cfg` names: the crawler's own, plus the add-on that reads the
monitor config named by KUCHIKOMI_CONFIG."""
from crawlers.settings import *  # noqa: F401,F403

ADDONS = {"kuchikomi.scrapy_addon.MonitorConfig": 0}
