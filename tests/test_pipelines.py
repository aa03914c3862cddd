"""The text stages: normalise, clean, language, dedup, brand matching."""
import csv

import py3langid
import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from crawlers.items import ReviewItem
from foundations.language import detect_language, identifier
from foundations.terms import TermMatcher
from pipelines.clean import clean_text
from pipelines.dedup import DedupPipeline, canonical_url, document_id
from pipelines.normalise import NormalisePipeline

BRANDS = [{"name": "Sony", "aliases": ["ソニー", "SONY"]}, {"name": "Panasonic", "aliases": ["パナソニック"]}]


def review(**fields):
    base = {"source_url": "https://shop.example/p/1", "body": "Great", "author": "A"}
    return ReviewItem(**{**base, **fields})


@pytest.mark.parametrize("text", ["ソニーのテレビ", "ｿﾆｰのテレビ", "そにーのテレビ", "I like sony", "SONY!", "ＳＯＮＹ製品"])
def test_brand_found_whatever_the_case_width_or_kana(text):
    assert TermMatcher(BRANDS).match(text)[0] == ["Sony"]


@pytest.mark.parametrize("text", ["Sonya wrote this", "sonyx cable", "パナマ運河"])
def test_brand_not_found_inside_other_words(text):
    assert TermMatcher(BRANDS).match(text)[0] == []


def test_several_brands_in_order_of_mention():
    brands, terms = TermMatcher(BRANDS).match("パナソニックよりソニーが好き")
    assert brands == ["Panasonic", "Sony"] and terms == ["パナソニック", "ソニー"]


def test_clean_text_strips_markup_and_keeps_paragraphs():
    assert clean_text("<p>Good&nbsp;sound</p><p>Bad <b>case</b></p><script>x()</script>") == "Good sound\n\nBad case"
    # Inline tags join as a browser shows them: CJK runs stay whole, tag-separated Latin words keep a space.
    assert clean_text("<div>家庭的<b>较为稳定</b>生活<span>By</span><a>Ann</a><!-- hidden --></div>") == \
        "家庭的较为稳定生活By Ann"
    assert clean_text("  plain\u200b   text ") == "plain text"


@pytest.mark.parametrize("text,declared,expected", [
    ("このヘッドホンは音がとても良いです", None, "ja"),
    ("東京駅近辺便利", "ja", "ja"),
    ("这个耳机的音质非常好，我很喜欢", None, "zh"),
    ("These headphones sound great and the battery lasts", None, "en"),
    ("Super!", "de-DE", "de"),
])
def test_language_detection(text, declared, expected):
    assert detect_language(text, declared) == expected


def test_sparse_identifier_names_the_language_py3langid_names(shared):
    """Our sum over a text's own features is py3langid's model, only cheaper: real reviews in three
    languages, and the same reviews cut to their first 15 characters, where the model is least sure."""
    texts = []
    for language in ("en", "ja", "zh"):
        with open(shared / "data" / "sentiment" / "marc" / f"trainpool_{language}.csv", encoding="utf-8") as handle:
            texts += [row["text"] for _, row in zip(range(300), csv.DictReader(handle))]
    texts += [text[:15] for text in texts]
    disagreements = [text for text in texts if identifier().language(text) != py3langid.classify(text)[0]]
    assert not disagreements
    assert {identifier().language(text) for text in texts} >= {"en", "ja", "zh"}


def test_document_id_uses_the_canonical_url_and_review_id():
    a = review(source_url="https://shop.example/p/1?b=2&a=1", review_id="#r1")
    b = review(source_url="https://shop.example/p/1?a=1&b=2", review_id="#r1")
    c = review(review_id="#r2")
    assert document_id(a) == document_id(b) != document_id(c)


def test_tracking_parameters_do_not_make_a_second_document():
    plain = review(source_url="https://shop.example/p/1?colour=red", review_id="#r1")
    for tracked in ("https://shop.example/p/1?utm_source=x&colour=red&utm_medium=mail",
                    "https://shop.example/p/1?colour=red&fbclid=abc#reviews",
                    "https://shop.example/p/1?spm=a2.b&colour=red&gclid=1"):
        assert document_id(review(source_url=tracked, review_id="#r1")) == document_id(plain)
    assert canonical_url("https://shop.example/p/1?utm_campaign=a&colour=red") == \
        "https://shop.example/p/1?colour=red"
    assert document_id(review(source_url="https://shop.example/p/1?colour=blue", review_id="#r1")) != \
        document_id(plain)


def test_document_id_without_review_id_ignores_the_url():
    a = review(source_url="https://a.example/x", published_at="2024-01-01", body="Broke in a day")
    b = review(source_url="https://mirror.example/y", published_at="2024-01-01", body="Broke  in a day")
    assert document_id(a) == document_id(b)


def test_dedup_drops_the_second_copy_in_a_crawl():
    stage = DedupPipeline()
    stage.process_item(review(review_id="1"))
    with pytest.raises(DropItem, match="duplicate"):
        stage.process_item(review(review_id="1"))


def test_normalise_drops_reviews_without_text_and_bad_ratings():
    stage = NormalisePipeline()
    with pytest.raises(DropItem, match="no text"):
        stage.process_item(review(body="  ", title=None))
    item = stage.process_item(review(rating={"value": 9, "best": 5, "worst": 1, "normalized": 2.0}))
    assert item["rating"] is None


def test_normalise_replaces_half_of_a_surrogate_pair():
    # json.loads('"\ud83d"'), as a page's JSON-LD can hold, gives a string no encoder writes as UTF-8.
    item = NormalisePipeline().process_item(review(body="音が良い \ud83d", author="\udc00Ann"))
    assert item["body"] == "音が良い \ufffd" and item["author"] == "\ufffdAnn"
    item["body"].encode("utf-8")


def test_normalise_cuts_keyword_fields_to_the_bounds_the_index_keeps():
    stats = get_crawler().stats
    long_url = "https://shop.example/r/" + "x" * 40_000
    item = NormalisePipeline(stats).process_item(review(author=" " + "山" * 40_000, review_url=long_url,
                                                        review_id="ok-1", source_url="https://shop.example/p/1"))
    assert item["author"] == "山" * 256 and item["review_url"] == long_url[:2048]
    assert item["review_id"] == "ok-1" and item["source_url"] == "https://shop.example/p/1"
    assert stats.get_value("kuchikomi/truncated/author") == 1 and stats.get_value("kuchikomi/truncated/review_url") == 1
    assert stats.get_value("kuchikomi/truncated/review_id") is None
