"""Scrapy extensions of the crawl process itself."""
