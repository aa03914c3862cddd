"""A frontier in Redis shared by many crawl workers (`crawl.frontier`), built on scrapy-redis."""
