import scrapy


class ReviewItem(scrapy.Item):
    """One review or post, as it flows through the pipelines and into Elasticsearch."""
    # From the spider
    kind = scrapy.Field()            # "review" (rated, on a product page) or "post" (feeds, forums)
    source = scrapy.Field()          # name of the configured source
    source_url = scrapy.Field()      # page the review was found on
    review_url = scrapy.Field()      # the review's own URL or #anchor, when the page gives one
    review_id = scrapy.Field()       # the site's own id for the review, when it has one
    site = scrapy.Field()            # host name
    author = scrapy.Field()
    rating = scrapy.Field()          # {"value", "best", "worst", "normalized" (0-1)}
    title = scrapy.Field()
    body = scrapy.Field()
    published_at = scrapy.Field()    # ISO 8601, with zone when the page gives one
    date_precision = scrapy.Field()  # "month" when the site gives only the month (published_at: its first day)
    page_language = scrapy.Field()   # what the page declares (html lang, inLanguage)
    item_name = scrapy.Field()       # the product, recipe, place... being reviewed
    aggregate_rating = scrapy.Field()  # the item's own {"value", "best", "worst", "normalized", "count"}
    votes = scrapy.Field()           # likes / upvotes / points the post or review has, when the page shows them
    parent_id = scrapy.Field()       # review_id of the post this one replies to (nested replies, 楼中楼)
    author_id = scrapy.Field()       # the site's id of the author: 5ch's ID, a user id, when the site shows one
    fetched_at = scrapy.Field()      # ISO 8601 UTC
    # Added by the pipelines
    language = scrapy.Field()
    doc_id = scrapy.Field()
    near_duplicate_bands = scrapy.Field()  # MinHash LSH band keys of a post's text, to find its copies
    brands = scrapy.Field()          # names of watched brands mentioned
    brand_terms = scrapy.Field()     # the aliases that matched
    sentiment = scrapy.Field()       # {"label", "score", "scores", "model"}
    categories = scrapy.Field()      # [{"name", "score"}] passing their thresholds, highest first
    aspects = scrapy.Field()         # [{"category", "sentiment", "sentence"}]: each sentence's categories
