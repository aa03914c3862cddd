"""What a crawl would store from one page or API answer, whatever it is: the platform reader or shipped
profile its URL names (or the one asked for), else its schema.org reviews or posts, else — an article,
a blog post — one post of its main text, as the sitemap spider stores it."""
from __future__ import annotations

from scrapy.http import Response

from crawlers.extraction.forum_posts import PlatformRefused
from crawlers.extraction.platforms import PLATFORMS, decode_answer, post_item, reader_for
from crawlers.extraction.site_profile import Profile, load_profile
from crawlers.spiders.reviews import profile_reviews, structured_items
from crawlers.spiders.sitemap import post_from_page


def page_items(response: Response, source: str = "extract", profile: Profile | None = None,
               platform: str | None = None, nodes: list[dict] | None = None) -> list:
    """The page's items; ValueError naming the problem when a platform refused or answered something else.
    `nodes`: the page's structured data, when the caller has read it already."""
    if profile is None and platform is None:
        chosen = reader_for(response.url)
        if chosen and chosen[0] == "platform":
            platform = chosen[1]
        elif chosen:
            profile = load_profile(chosen[1])
    if platform is not None:
        reader = PLATFORMS[platform]
        try:
            answer = decode_answer(reader, response.body)
        except ValueError as exc:
            raise ValueError(f"not a JSON answer, as {platform} gives ({exc})") from exc
        try:
            return [post_item(post, source) for post in reader.read(answer, response.url).posts]
        except PlatformRefused as exc:
            raise ValueError(f"{platform} refused: {exc}") from exc
        except (AttributeError, KeyError, TypeError) as exc:
            raise ValueError(f"not an answer the {platform} reader knows ({exc!r})") from exc
    if profile is not None:
        return list(profile_reviews(response, profile, source, nodes))
    items = structured_items(response, source, nodes)
    if items:
        return items
    article = post_from_page(response, source)
    return [article] if article else []
