"""Helpers the tests share: the CLI runner, local servers and receivers, crawl helpers and the research corpus."""
