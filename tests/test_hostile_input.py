"""Hostile and broken input (issue 18): bidi controls in what kuchikomi prints and sends, Slack links with `|`,
ratings that are not finite, broken or over-deep structured data, mislabelled encodings, ids posing as authors."""
import json

import pytest
import yaml
from elasticsearch import Elasticsearch

from alerts.channels import build_channels
from alerts.message import Message
from alerts.rules.negative_brand import NegativeBrandRule
from index.storage.schema import ensure_reviews_index
from index.storage.writer import BulkWriter
from tests.support.cli import kuchikomi
from tests.support.crawling import crawl, stored
from tests.support.receivers import WebhookReceiver
from tests.support.research_corpus import document
from tests.support.servers import LocalServer, Reply, html

BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
# "Great product" shown in a terminal, but with U+202E the rest of the line reads right to left.
SPOOFED_TITLE = "Great \u202eproduct\u202c"
SPOOFED_BODY = "Works \u2067fine\u2069 \u200e\u200f\u061cfor me, \u202a\u202b\u202dreally"


def has_bidi(text: str) -> bool:
    return any(char in text for char in BIDI_CONTROLS)


def spoofed_alert(url="https://shop.example/r/1"):
    rule = NegativeBrandRule({"name": "neg", "type": "negative_brand", "channels": ["x"]})
    [alert] = rule.match({"doc_id": "d1", "source": "shop", "source_url": url, "site": "shop.example",
                          "brands": ["Sony"], "title": SPOOFED_TITLE, "body": SPOOFED_BODY, "language": "en",
                          "sentiment": {"label": "negative", "score": 0.95}})
    return alert


def test_console_alert_holds_no_bidi_control(capsys):
    build_channels({"x": {"type": "console"}})["x"].send(Message([spoofed_alert()]))
    out = capsys.readouterr().out
    assert not has_bidi(out)
    assert "Great product: Works fine for me, really" in out


def test_slack_payload_holds_no_bidi_control():
    receiver = WebhookReceiver()
    try:
        build_channels({"x": {"type": "slack", "webhook_url": receiver.url}})["x"].send(Message([spoofed_alert()]))
    finally:
        receiver.close()
    [(_, body, _)] = receiver.raw
    payload = body.decode()
    assert not has_bidi(payload) and not has_bidi(json.dumps(json.loads(payload), ensure_ascii=False))
    assert "Great product: Works fine for me, really" in json.dumps(json.loads(payload), ensure_ascii=False)


def test_slack_link_with_a_pipe_in_its_url_stays_one_link():
    receiver = WebhookReceiver()
    url = "https://shop.example/r?q=a|<!channel>|b>c"
    try:
        build_channels({"x": {"type": "slack", "webhook_url": receiver.url}})["x"].send(Message([spoofed_alert(url)]))
    finally:
        receiver.close()
    [payload] = receiver.received
    [link] = [e["text"] for b in payload["blocks"] if b["type"] == "context" for e in b["elements"]]
    # Slack ends the URL at the first `|` and the link at the first `>`: neither may come from the URL.
    target, label = link[1:-1].split("|", 1)
    assert target == "https://shop.example/r?q=a%7C%3C!channel%3E%7Cb%3Ec"
    assert ">" not in link[:-1] and "<" not in link[1:] and "<!channel>" not in link
    assert label == "https://shop.example/r?q=a|&lt;!channel&gt;|b&gt;c"


def test_search_table_line_holds_no_bidi_control(tmp_path, es_url, index_prefix):
    client = Elasticsearch([es_url])
    alias = ensure_reviews_index(client, index_prefix)
    doc = document(("bidi-1", "en", "shop.example", ["Sony"], "negative", 1, "2024-01-05", SPOOFED_TITLE,
                    SPOOFED_BODY))
    assert not any(BulkWriter(client, alias, tmp_path / "spool.jsonl").write([doc]).values())
    client.indices.refresh(index=alias)
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump({"elasticsearch": {"url": es_url, "index_prefix": index_prefix},
                                      "sources": [{"name": "unused", "start_urls": ["http://127.0.0.1:9/"]}]}))
    result = kuchikomi("search", "-c", config)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert not has_bidi(line) and "Great product: Works fine for me, really" in line


# --- ratings that are not finite numbers (item 8) ---

def product_page(*blocks: str, head: str = "") -> str:
    scripts = "".join(f'<script type="application/ld+json">{block}</script>' for block in blocks)
    return f"<!doctype html><html><head>{head}{scripts}</head><body><p>Reviews</p></body></html>"


def review_block(rating: str, body: str, product: str = "Kettle") -> str:
    return ('{"@context": "https://schema.org", "@type": "Product", "name": "%s", "review": {"@type": "Review", '
            '"author": {"@type": "Person", "name": "Aiko"}, "reviewBody": "%s", "reviewRating": '
            '{"@type": "Rating", "ratingValue": %s, "bestRating": 5, "worstRating": 1}}}' % (product, body, rating))


GOOD_BLOCK = review_block("2", "The lid leaks after a week of daily use.", "Teapot")
INFINITE = {"infinity.html": review_block("Infinity", "Boils fast but the handle gets hot."),
            "exponent.html": review_block("1e99999", "Boils fast but the handle gets hot.")}


def extract(tmp_path, name: str, page: str | bytes):
    path = tmp_path / name
    path.write_bytes(page if isinstance(page, bytes) else page.encode())
    result = kuchikomi("extract", path, "--url", f"https://shop.example/{name}")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr.splitlines()


@pytest.mark.parametrize("name", INFINITE)
def test_extract_prints_valid_json_without_an_infinite_rating(tmp_path, name):
    path = tmp_path / name
    path.write_text(product_page(INFINITE[name]))
    result = kuchikomi("extract", path)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    [line] = result.stdout.splitlines()
    review = json.loads(line, parse_constant=lambda constant: pytest.fail(f"{constant} is not JSON"))
    assert review["body"] == "Boils fast but the handle gets hot." and review["rating"] is None


@pytest.mark.slow
def test_crawl_stores_the_review_without_its_infinite_rating_and_counts_it(tmp_path, es_url, index_prefix,
                                                                          kuchikomi_home):
    pages = {"/infinity": product_page(INFINITE["infinity.html"], GOOD_BLOCK),
             "/exponent": product_page(review_block("1e99999", "The whistle is far too quiet to hear.", "Pot")),
             "/broken": product_page('{"@type": "Review", "reviewBody": "cut',
                                     review_block("4", "Pours without a drip, a fine jug.", "Jug"))}

    def answer(path, headers) -> Reply:
        return html(pages[path].encode()) if path in pages else Reply(404)

    with LocalServer(answer) as shop:
        result = crawl(tmp_path, es_url, index_prefix, [{"name": "shop", "follow_pagination": False,
                                                          "start_urls": [shop.url + path for path in pages]}])
    assert result.returncode == 0, result.stderr[-3000:]
    by_item = {doc["item_name"]: doc for doc in stored(es_url, index_prefix)}
    assert set(by_item) == {"Kettle", "Pot", "Teapot", "Jug"}
    assert by_item["Kettle"]["rating"] is None and by_item["Pot"]["rating"] is None
    assert by_item["Kettle"]["body"] == "Boils fast but the handle gets hot."
    assert by_item["Teapot"]["rating"]["normalized"] == 0.25 and by_item["Jug"]["rating"]["value"] == 4
    assert "'non_finite_rating': 2" in result.stdout and "'invalid_structured_data': 1" in result.stdout
    assert f"invalid JSON-LD block 1 on {shop.url}/broken: Unterminated string" in result.stderr


# --- broken structured data, mislabelled encodings, ids as authors (item 10) ---

SHIFT_JIS_TEXT = "ご飯がふっくら炊けます。保温しても味が落ちません。毎日使っています。"
BROKEN_PAGES = {
    "truncated JSON-LD": (product_page('{"@context": "https://schema.org", "@type": "Review", "reviewBody": "cu',
                                       GOOD_BLOCK), "invalid JSON-LD block 1 on", "Unterminated string"),
    "100k-deep nesting": (product_page(GOOD_BLOCK, "[" * 100_000 + "]" * 100_000), "invalid JSON-LD block 2 on",
                          "nested too deep to read"),
    "deep but readable nesting": (product_page('{"@type": "Thing", "subjectOf": ' * 500 + "{}" + "}" * 500,
                                               GOOD_BLOCK), "invalid JSON-LD block 1 on", "nested deeper than"),
    "5,000-digit number": (product_page('{"@type": "Review", "reviewBody": "big", "reviewRating": {"ratingValue": '
                                        + "9" * 5000 + "}}", GOOD_BLOCK), "invalid JSON-LD block 1 on",
                           "a number is longer than 4,300 digits"),
    "deep microdata": ('<html><body><div itemscope itemtype="https://schema.org/Product"><span itemprop="name">'
                       'Teapot</span><div itemprop="review" itemscope itemtype="https://schema.org/Review">'
                       '<span itemprop="author">Aiko</span><span itemprop="reviewBody">The lid leaks after a week '
                       'of daily use.</span></div></div>' + '<div itemscope itemtype="https://schema.org/Thing">'
                       + '<div itemprop="subjectOf" itemscope>' * 200 + "</div>" * 201 + "</body></html>",
                       "invalid microdata on", "items nested deeper than 32 levels"),
}


@pytest.mark.parametrize("case", BROKEN_PAGES)
def test_broken_block_is_one_warning_and_the_good_reviews_stay(tmp_path, case):
    page, where, problem = BROKEN_PAGES[case]
    reviews, stderr = extract(tmp_path, "page.html", page)
    [warning] = [line for line in stderr if line.startswith("invalid ")]
    assert warning.startswith(f"{where} https://shop.example/page.html: ") and problem in warning
    assert stderr == [warning, "1 reviews"]
    [review] = reviews
    assert review["body"] == "The lid leaks after a week of daily use." and review["author"] == "Aiko"


def test_shift_jis_page_declared_iso_8859_1_is_read_as_the_crawl_reads_it(tmp_path):
    block = json.dumps({"@context": "https://schema.org", "@type": "Product", "name": "炊飯器",
                        "review": {"@type": "Review", "author": "山田", "reviewBody": SHIFT_JIS_TEXT}},
                       ensure_ascii=False)
    page = product_page(block, head='<meta charset="ISO-8859-1">').replace("Reviews", SHIFT_JIS_TEXT)
    [review], stderr = extract(tmp_path, "sjis.html", page.encode("shift_jis"))
    assert review["body"] == SHIFT_JIS_TEXT and review["author"] == "山田" and review["item_name"] == "炊飯器"
    assert stderr == ["1 reviews"]


RDFA_BLANK_NODE_AUTHOR = """<html><body>
<div vocab="https://schema.org/" typeof="Review"><span property="reviewBody">The lid leaks after a week.</span>
  <span property="author" resource="_:b0"></span></div>
<div vocab="https://schema.org/" about="_:b0"><span property="name">Hanako</span></div>
<div vocab="https://schema.org/" typeof="Review"><span property="reviewBody">Nobody wrote this one.</span>
  <span property="author" resource="_:b9"></span></div>
</body></html>"""
JSON_LD_ID_AUTHOR = product_page(
    '{"@context": "https://schema.org", "@graph": [{"@type": "Product", "name": "Teapot", "review": '
    '{"@type": "Review", "reviewBody": "The lid leaks after a week.", "author": {"@id": "#person1"}}}, '
    '{"@type": "Person", "@id": "#person1", "name": "Kenji"}]}',
    '{"@context": "https://schema.org", "@type": "Product", "name": "Jug", "review": {"@type": "Review", '
    '"reviewBody": "Nobody wrote this one.", "author": {"@id": "#nobody"}}}')


@pytest.mark.parametrize("page, author", [(RDFA_BLANK_NODE_AUTHOR, "Hanako"), (JSON_LD_ID_AUTHOR, "Kenji")],
                         ids=["RDFa blank node", "JSON-LD @id"])
def test_an_author_reference_resolves_to_a_name_or_is_dropped(tmp_path, page, author):
    reviews, stderr = extract(tmp_path, "page.html", page)
    by_body = {review["body"]: review for review in reviews}
    assert by_body["The lid leaks after a week."]["author"] == author
    assert by_body["Nobody wrote this one."]["author"] is None
    # Blank node ids are new on every parse: no review takes one as its id.
    assert all(review["review_id"] is None for review in reviews)
    assert stderr == ["2 reviews"]
