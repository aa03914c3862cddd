"""Scrapy settings for kuchikomi's crawls. `kuchikomi crawl` adds the monitor config's crawl manners and sections."""
from importlib.util import find_spec

BOT_NAME = "kuchikomi"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

USER_AGENT = "kuchikomi/0.1 (+https://github.com/kuchikomi/kuchikomi)"
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.25
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
# Scrapy's retry, plus waiting as long as a 429/503 Retry-After asks (at most this many seconds).
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.retry_after.RetryAfterMiddleware": 550,
    # Scrapy's robots.txt and redirects, counting and logging the pages they skip.
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawlers.middlewares.robots.CountedRobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawlers.middlewares.redirect.CountedRedirectMiddleware": 600,
    # Responses pass middlewares from high numbers to low: this one sees the body after
    # HttpCompression (590) has unzipped it, and before anything reads its text.
    "crawlers.middlewares.encoding.EncodingMiddleware": 585,
    # With a shared frontier (crawl.frontier): delays, concurrency and Retry-After held for all workers together.
    "crawlers.frontier.politeness.SharedPoliteness": 950,
}
KUCHIKOMI_RETRY_AFTER_MAX = 600
EXTENSIONS = {"crawlers.extensions.garbage_collection.GarbageCollectionTuning": 0}
# Allocations between garbage collections while a crawl runs (CPython's default: 700).
KUCHIKOMI_GC_THRESHOLD = 50000
# Engine side of the spider output, so it sees the requests and items that really go on.
SPIDER_MIDDLEWARES = {"crawlers.middlewares.job_journal.JobJournalMiddleware": 40}
TELNETCONSOLE_ENABLED = False
# The asyncio reactor's loop: uvloop's runs each page's callbacks, timers and socket events in C, about
# 4% fewer instructions per page of a crawl (bench/crawl's pages, Valgrind); asyncio's own without it.
ASYNCIO_EVENT_LOOP = "uvloop.Loop" if find_spec("uvloop") else None
# Incremental re-crawls: every page is kept (KUCHIKOMI_HOME/httpcache) and asked for again with its
# ETag / Last-Modified; a 304 means unchanged, and an unchanged page's reviews are not processed again.
HTTPCACHE_ENABLED = True
HTTPCACHE_POLICY = "scrapy.extensions.httpcache.RFC2616Policy"
HTTPCACHE_ALWAYS_STORE = True
HTTPCACHE_IGNORE_HTTP_CODES = [408, 429, 500, 502, 503, 504]
DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "ja,zh;q=0.9,en;q=0.8",
    "Cache-Control": "max-age=0",  # always revalidate: a review page may change at any time
}
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"

ITEM_PIPELINES = {
    "pipelines.normalise.NormalisePipeline": 100,
    "pipelines.clean.CleanTextPipeline": 200,
    "pipelines.language.LanguagePipeline": 300,
    "pipelines.dedup.DedupPipeline": 400,
    "pipelines.near_duplicates.NearDuplicatePipeline": 450,
    "pipelines.brands.BrandMatchPipeline": 500,
    "pipelines.sentiment.SentimentPipeline": 600,
    "pipelines.index.ElasticsearchPipeline": 700,
    "pipelines.alert.AlertPipeline": 800,
}
# Items of one page travel the pipelines together, so sentiment and bulk writes see whole batches;
# moderate, because Scrapy starts this many item tasks per response whatever its item count.
CONCURRENT_ITEMS = 16
KUCHIKOMI_BULK_SIZE = 200
# A bulk request goes when it is full or its first review has waited this long (seconds): fewer,
# bigger requests cost Elasticsearch several times less CPU, and alerts wait at most this much more.
KUCHIKOMI_BULK_LINGER = 0.5
