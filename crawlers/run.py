"""Running crawls for a monitor: Scrapy settings from the config, one crawler per source."""
from __future__ import annotations

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawlers import settings as project_settings
from crawlers.config import Monitor
from index.node import kuchikomi_home
from crawlers.spiders.feeds import FeedSpider
from crawlers.spiders.reviews import ReviewsSpider
from crawlers.spiders.sitemap import SitemapReviewsSpider

SPIDERS = {"reviews": ReviewsSpider, "feed": FeedSpider, "sitemap": SitemapReviewsSpider}
CRAWL_SETTINGS = {
    "obey_robots_txt": "ROBOTSTXT_OBEY",
    "download_delay": "DOWNLOAD_DELAY",
    "concurrent_requests_per_domain": "CONCURRENT_REQUESTS_PER_DOMAIN",
    "autothrottle_start_delay": "AUTOTHROTTLE_START_DELAY",
}


def scrapy_settings(monitor: Monitor, classifier=None, overrides: dict | None = None) -> Settings:
    settings = Settings()
    settings.setmodule(project_settings, priority="project")
    crawl = monitor.crawl
    for key, name in CRAWL_SETTINGS.items():
        if key in crawl:
            settings.set(name, crawl[key], priority="project")
    if "user_agent" in crawl or "contact_url" in crawl:
        agent = crawl.get("user_agent", "kuchikomi/0.1")
        if crawl.get("contact_url"):
            agent = f"{agent} (+{crawl['contact_url']})"
        settings.set("USER_AGENT", agent, priority="project")
    settings.set("HTTPCACHE_DIR", str(kuchikomi_home() / "httpcache"), priority="project")
    settings.set("KUCHIKOMI_MONITOR", monitor, priority="cmdline")
    settings.set("KUCHIKOMI_CONFIG", str(monitor.path), priority="cmdline")
    if classifier is not None:
        settings.set("KUCHIKOMI_CLASSIFIER", classifier, priority="cmdline")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    return settings


def run_crawl(monitor: Monitor, sources: list[str] | None = None, classifier=None,
              overrides: dict | None = None) -> dict[str, dict]:
    """Crawl the chosen sources (default: all) to the end; returns each source's Scrapy stats."""
    chosen = [monitor.source(name) for name in sources] if sources else monitor.sources
    process = CrawlerProcess(scrapy_settings(monitor, classifier, overrides))
    crawlers = {}
    for source in chosen:
        crawler = process.create_crawler(SPIDERS[source.get("spider", "reviews")])
        crawlers[source["name"]] = crawler
        process.crawl(crawler, start_urls=source["start_urls"], source=source["name"],
                      follow_pagination=source.get("follow_pagination", True),
                      max_pages=source.get("max_pages"))
    process.start()
    return {name: crawler.stats.get_stats() for name, crawler in crawlers.items()}
