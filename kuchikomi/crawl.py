"""Running crawls for a monitor: Scrapy settings from the config, one crawler per source."""
from __future__ import annotations

import logging
from urllib.parse import quote

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawlers import settings as project_settings
from crawlers.frontier.redis_frontier import DEFAULT_LEASE, frontier_settings
from crawlers.spiders.feeds import FeedSpider
from crawlers.spiders.forum import ForumSpider
from crawlers.spiders.reviews import ReviewsSpider
from crawlers.spiders.sitemap import SitemapReviewsSpider
from foundations import paths
from foundations.durations import parse_duration
from kuchikomi.config import Monitor
from kuchikomi.schedule import DEFAULT_EVERY

SPIDERS = {"reviews": ReviewsSpider, "feed": FeedSpider, "sitemap": SitemapReviewsSpider, "forum": ForumSpider}
CRAWL_SETTINGS = {
    "obey_robots_txt": "ROBOTSTXT_OBEY",
    "download_delay": "DOWNLOAD_DELAY",
    "concurrent_requests_per_domain": "CONCURRENT_REQUESTS_PER_DOMAIN",
    "autothrottle_start_delay": "AUTOTHROTTLE_START_DELAY",
}


def monitor_sections(monitor: Monitor) -> dict:
    """The config sections the crawl's components read, as Scrapy settings: each stage gets its own."""
    return {"KUCHIKOMI_ELASTICSEARCH": monitor.elasticsearch, "KUCHIKOMI_BRANDS": monitor.brands,
            "KUCHIKOMI_SENTIMENT": monitor.sentiment, "KUCHIKOMI_ALERTS": monitor.alerts,
            "KUCHIKOMI_CONFIG_DIR": str(monitor.path.parent)}


def frontier(monitor: Monitor) -> dict:
    """Settings of a crawl whose workers share the Redis frontier: leases instead of the journal."""
    every = {source["name"]: parse_duration(source.get("every", monitor.crawl.get("every", DEFAULT_EVERY)))
             for source in monitor.sources}
    lease = parse_duration(monitor.crawl.get("frontier_lease", DEFAULT_LEASE))
    middlewares = {**project_settings.SPIDER_MIDDLEWARES,
                   "crawlers.middlewares.job_journal.JobJournalMiddleware": None,
                   "crawlers.frontier.leases.LeaseMiddleware": 40}
    return {**frontier_settings(monitor.crawl["frontier"], lease, every), "SPIDER_MIDDLEWARES": middlewares}


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
    settings.set("HTTPCACHE_DIR", str(paths.home() / "httpcache"), priority="project")
    settings.set("KUCHIKOMI_JOBS_DIR", str(paths.home() / "jobs"), priority="project")
    if crawl.get("frontier"):
        settings.setdict(frontier(monitor), priority="cmdline")
    settings.setdict(monitor_sections(monitor), priority="cmdline")
    if classifier is not None:
        settings.set("KUCHIKOMI_CLASSIFIER", classifier, priority="cmdline")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    return settings


DEFAULT_BROWSER = "/usr/bin/chromium"  # Debian's chromium package
# Chromium flags for a crawler: no sandbox (containers, root), and no calls home, which a closed
# network would refuse many times a second.
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic"]


def browser_settings(monitor: Monitor) -> dict:
    """scrapy-playwright for the requests that ask for it (meta playwright); the rest download as usual."""
    handler = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
    return {"DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
            "PLAYWRIGHT_BROWSER_TYPE": "chromium",
            "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": browser_path(monitor), "headless": True,
                                          "args": BROWSER_ARGS},
            "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 4}


def browser_path(monitor: Monitor) -> str:
    return monitor.crawl.get("browser_path", DEFAULT_BROWSER)


def start_urls(source: dict, brands: list[dict]) -> list[str]:
    """The source's URLs; a search URL template's {query} is filled with every brand name and alias."""
    terms = list(dict.fromkeys(term for brand in brands for term in [brand["name"], *brand.get("aliases", [])]))
    urls = []
    for url in source["start_urls"]:
        if "{query}" in url:
            urls += [url.replace("{query}", quote(term, safe="")) for term in terms]
        else:
            urls.append(url)
    return list(dict.fromkeys(urls))


def run_crawl(monitor: Monitor, sources: list[str] | None = None, classifier=None,
              overrides: dict | None = None) -> dict[str, dict]:
    """Crawl the chosen sources (default: all) to the end; returns each source's Scrapy stats."""
    chosen = [monitor.source(name) for name in sources] if sources else monitor.sources
    if any(source.get("render") for source in chosen):
        overrides = {**browser_settings(monitor), **(overrides or {})}
    settings = scrapy_settings(monitor, classifier, overrides)
    process = CrawlerProcess(settings)
    # Scrapy's handler drops records below LOG_LEVEL, yet its loggers still build one for every
    # response and item ("Crawled", "Scraped from"); told the level, they skip them at no cost.
    logging.getLogger("scrapy").setLevel(settings.get("LOG_LEVEL"))
    crawlers = {}
    for source in chosen:
        crawler = process.create_crawler(SPIDERS[source.get("spider", "reviews")])
        crawlers[source["name"]] = crawler
        options = {key: source[key] for key in ("platform", "profile", "render", "render_wait_for", "headers",
                                                "cookies", "follow_articles") if source.get(key)}
        process.crawl(crawler, start_urls=start_urls(source, monitor.brands), source=source["name"],
                      follow_pagination=source.get("follow_pagination", True),
                      max_pages=source.get("max_pages"), **options)
    process.start()
    return {name: crawler.stats.get_stats() for name, crawler in crawlers.items()}
