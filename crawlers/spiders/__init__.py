def url_list(start_urls) -> list[str]:
    """Start URLs as a list: as the crawl runner passes them, or comma-separated from `scrapy crawl -a`."""
    if isinstance(start_urls, str):
        return [url for url in start_urls.split(",") if url]
    return list(start_urls or [])
