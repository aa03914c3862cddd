"""Extraction, one module per stage: structured data, site profiles, main text, feed entries, forum posts, dates."""
