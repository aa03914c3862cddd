"""The monitor config's sections, as the shell hands them to the crawl (KUCHIKOMI_* settings)."""
from __future__ import annotations

from scrapy.exceptions import NotConfigured


def required_section(settings, name: str):
    """The section in setting `name`; NotConfigured (the stage is switched off) when the crawl has none."""
    section = settings.get(name)
    if section is None:
        raise NotConfigured(f"no {name} setting (a monitor config section)")
    return section
