"""kuchikomi's application shell: the command line, the monitor config schema and the crawl runner."""
