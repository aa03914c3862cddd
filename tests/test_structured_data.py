"""Review extraction from schema.org markup: real third-party pages and self-written cases."""
import json

import pytest
from scrapy.http import HtmlResponse

from crawlers.extraction.structured_data import extract_graph, own_aggregate
from crawlers.spiders.reviews import next_page_urls, reviews_from_response

RECIPES = "fixtures/reviews/recipes-schemaorg"

# (page, review count, first author, first rating, first date) from ../shared/fixtures/EXPECTED.md
EXPECTED_RECIPES = [
    ("allrecipes.com/allrecipescurated.html", 10, "G8RTCHR", 5.0, None),
    ("hostthetoast.com/hostthetoast_1.html", 60, "Jamie Young", 5.0, "2018-08-14"),
    ("rachlmansfield.com/rachlmansfield.html", 78, "Kellie", 5.0, "2020-02-13"),
    ("realmomnutrition.com/realmomnutrition_1.html", 100, "Justina", 4.0, "2025-01-23T22:27:30+00:00"),
    ("delishkitchen.tv/delishkitchen_1.html", 10, "はぎこ", 5.0, "2021-09-30T11:16:21+00:00"),
    ("madamecuisine.de/madamecuisine_2.html", 13, "Alf", 5.0, "2024-11-19"),
    ("recept.se/recept.html", 10, "Tage", None, None),
    ("tasteofhome.com/tasteofhome_1.html", 9, "Tina233", 1.0, "2022-07-07"),
]


def response_for(path, url="https://example.com/page"):
    return HtmlResponse(url=url, body=path.read_bytes())


@pytest.mark.parametrize("page,count,author,rating,date", EXPECTED_RECIPES)
def test_recipe_pages_yield_their_reviews(shared, page, count, author, rating, date):
    items = list(reviews_from_response(response_for(shared / RECIPES / page)))
    assert len(items) == count
    first = items[0]
    assert first["author"] == author
    assert (first["rating"] or {}).get("value") == rating
    if date:
        assert first["published_at"] == date
    assert first["aggregate_rating"]["value"] > 0


def test_realmomnutrition_aggregate_counts_more_than_embedded(shared):
    items = list(reviews_from_response(response_for(shared / RECIPES / "realmomnutrition.com/realmomnutrition_1.html")))
    assert items[0]["aggregate_rating"]["count"] == 174


def test_reishunger_uses_the_recipes_own_aggregate_not_the_shop_wide_one(shared):
    page = shared / RECIPES / "reishunger.de/reishunger_1.html"
    items = list(reviews_from_response(response_for(page)))
    aggregate = items[0]["aggregate_rating"]
    assert round(aggregate["value"], 2) == 3.67 and aggregate["count"] == 3
    assert items[0]["item_name"] == "Crispy Tofu Bowl"


def test_tasteofhome_one_star_normalises_to_zero(shared):
    items = list(reviews_from_response(response_for(shared / RECIPES / "tasteofhome.com/tasteofhome_1.html")))
    assert items[0]["rating"]["normalized"] == 0.0
    assert abs(items[0]["aggregate_rating"]["value"] - 3.7777777) < 1e-6


def test_microdata_product_aggregate(shared):
    page = shared / "fixtures/reviews/schemaorg-microdata/schemaorg_product.html"
    response = response_for(page)
    assert list(reviews_from_response(response)) == []
    aggregate = own_aggregate(None, extract_graph(response.text, response.url))
    assert aggregate["value"] == 4.4 and aggregate["count"] == 89


MICRODATA_REVIEW = """<html lang="ja"><body>
<div itemscope itemtype="http://schema.org/Product"><span itemprop="name">ソニー α7 IV</span>
 <div itemprop="review" itemscope itemtype="http://schema.org/Review">
  <span itemprop="author">田中</span><meta itemprop="datePublished" content="2024-03-01">
  <div itemprop="reviewRating" itemscope itemtype="http://schema.org/Rating">
   <meta itemprop="ratingValue" content="8"><meta itemprop="bestRating" content="10"><meta itemprop="worstRating" content="0"></div>
  <p itemprop="reviewBody">画質がとても良い。</p></div></div></body></html>"""

RDFA_REVIEW = """<html><body vocab="http://schema.org/">
<div typeof="Product"><span property="name">Acme Kettle</span>
 <div property="review" typeof="Review"><span property="author">Sam</span>
  <span property="reviewBody">Boils fast but the lid rattles.</span>
  <div property="reviewRating" typeof="Rating"><span property="ratingValue">3</span></div></div></div>
</body></html>"""


def test_microdata_review_with_ten_point_scale():
    response = HtmlResponse(url="https://shop.example.jp/a7", body=MICRODATA_REVIEW.encode())
    [item] = reviews_from_response(response)
    assert item["author"] == "田中" and item["item_name"] == "ソニー α7 IV"
    assert item["rating"] == {"value": 8.0, "best": 10.0, "worst": 0.0, "normalized": 0.8}
    assert item["published_at"] == "2024-03-01" and item["page_language"] == "ja"
    assert item["site"] == "shop.example.jp"


def test_rdfa_review():
    response = HtmlResponse(url="https://example.org/kettle", body=RDFA_REVIEW.encode())
    [item] = reviews_from_response(response)
    assert item["author"] == "Sam" and item["item_name"] == "Acme Kettle"
    assert item["rating"]["value"] == 3.0 and item["rating"]["normalized"] == 0.5
    assert "lid rattles" in item["body"]


def test_shift_jis_page_is_decoded():
    html = MICRODATA_REVIEW.replace("<html", '<html><head><meta charset="shift_jis"></head><html', 1)
    response = HtmlResponse(url="https://shop.example.jp/a7", body=html.encode("shift_jis"))
    [item] = reviews_from_response(response)
    assert item["body"] == "画質がとても良い。"


def test_pagination_links_are_followed_but_not_self_links():
    html = b"""<html><head><link rel="next" href="?page=2"></head><body>
    <a class="next" href="/reviews?page=2">next</a><a rel="next" href="/reviews">same page</a></body></html>"""
    response = HtmlResponse(url="https://example.com/reviews", body=html)
    assert next_page_urls(response) == ["https://example.com/reviews?page=2"]


def mf_value(value):
    """A value of the microformats-parser output: a string, or an embedded item's name."""
    if isinstance(value, dict):
        return value.get("properties", {}).get("name", [value.get("value")])[0]
    return value


def test_microformats_h_review_and_aggregates_match_the_parser_output(shared):
    folder = shared / "fixtures" / "reviews" / "microformats-hreview"
    checked = 0
    for page in sorted(folder.glob("*.html")):
        [expected] = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))["items"]
        properties = expected["properties"]
        response = HtmlResponse("http://example.com/", body=page.read_bytes(), encoding="utf-8")
        if expected["type"] == ["h-review"]:
            [item] = reviews_from_response(response)
            if "rating" in properties:
                assert item["rating"]["value"] == float(properties["rating"][0]), page.name
            if mf_value((properties.get("item") or [None])[0]):
                assert item["item_name"] == mf_value(properties["item"][0]), page.name
            if "name" in properties:
                assert item["title"] == properties["name"][0], page.name
        else:
            aggregate = own_aggregate(None, extract_graph(response.text, response.url))
            value = (properties.get("average") or properties.get("rating"))[0]
            assert aggregate["value"] == float(value), page.name
            assert aggregate["best"] == float(properties.get("best", ["5"])[0]), page.name
            if "count" in properties:
                assert aggregate["count"] == int(properties["count"][0]), page.name
        checked += 1
    assert checked == 14


@pytest.mark.parametrize("page, value, count", [
    ("play_hulu.html", 4.012990474700928, 325156),
    ("play_com.mg.android_weatherpro.html", 4.236471652984619, 53296),
    ("play_com.hasbro.mlpcoreAPPSTORE.html", 4.313517093658447, 60944),
])
def test_google_play_microdata_aggregates(shared, page, value, count):
    html = (shared / "fixtures" / "reviews" / "googleplay" / page).read_bytes().decode("utf-8", "replace")
    aggregate = own_aggregate(None, extract_graph(html, "https://play.google.com/store/apps/details"))
    assert (aggregate["value"], aggregate["count"]) == (value, count)
