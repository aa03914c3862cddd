"""Pages in Shift_JIS, EUC-JP, GB18030, Big5 — declared, undeclared and mislabelled — read as the text they hold."""
import json

import pytest
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from crawlers.middlewares.encoding import EncodingMiddleware
from crawlers.spiders.reviews import ReviewsSpider, reviews_from_response
from tests.support.cli import kuchikomi

TEXTS = {
    "shift_jis": "このヘッドホンは音がとても良いです。バッテリーも長持ちで、ノイズキャンセリングも強力。",
    "euc_jp": "配送が早く、商品も説明通りでした。ただ、箱が少しつぶれていたのが残念です。",
    "gb18030": "这个耳机的音质非常好，电池也很耐用，降噪效果出色，物流很快。",
    "big5": "這個耳機的音質非常好，電池也很耐用，降噪效果出色，物流很快。",
}


def page(text: str, meta_charset: str | None, author: str = "客") -> str:
    review = {"@context": "https://schema.org", "@type": "Product", "name": "Headphones",
              "review": {"@type": "Review", "author": author, "reviewBody": text,
                         "reviewRating": {"@type": "Rating", "ratingValue": 5}}}
    meta = f'<meta charset="{meta_charset}">' if meta_charset else ""
    return (f"<html><head>{meta}<title>{text[:8]}</title><script type='application/ld+json'>"
            f"{json.dumps(review, ensure_ascii=False)}</script></head><body><p>{text}</p></body></html>")


def read(body: bytes, content_type: str) -> list:
    crawler = get_crawler(ReviewsSpider)
    url = "http://shop.example/p"
    response = HtmlResponse(url, body=body, headers={"Content-Type": content_type}, request=Request(url))
    response = EncodingMiddleware.from_crawler(crawler).process_response(response.request, response)
    return [item["body"] for item in reviews_from_response(response)]


@pytest.mark.parametrize("encoding", TEXTS)
@pytest.mark.parametrize("how", ["declared in the header", "declared in <meta>", "undeclared",
                                 "header says ISO-8859-1", "header says UTF-8"])
def test_review_text_survives_every_declaration(encoding, how):
    text = TEXTS[encoding]
    meta = encoding if how == "declared in <meta>" else None
    body = page(text, meta).encode(encoding)
    content_type = {"declared in the header": f"text/html; charset={encoding}",
                    "header says ISO-8859-1": "text/html; charset=ISO-8859-1",
                    "header says UTF-8": "text/html; charset=UTF-8"}.get(how, "text/html")
    assert read(body, content_type) == [text]


def test_a_western_page_in_cp1252_is_left_alone():
    text = "Très bon casque, je le recommande à tous — qualité au rendez-vous."
    assert read(page(text, None, "Client").encode("cp1252"), "text/html; charset=ISO-8859-1") == [text]


@pytest.mark.parametrize("encoding", TEXTS)
def test_extract_decodes_a_mislabelled_page_as_the_crawl_does(tmp_path, encoding):
    text = TEXTS[encoding]
    path = tmp_path / "page.html"
    path.write_bytes(page(text, "ISO-8859-1").encode(encoding))
    result = kuchikomi("extract", path)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["body"] for line in result.stdout.splitlines()] == [text]
