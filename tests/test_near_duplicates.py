"""Syndicated copies of a post are recorded as copies of it, in one crawl and across crawls."""
import pytest
from email.utils import formatdate
from xml.sax.saxutils import escape

from crawlers.static_site import StaticSite
from pipelines.near_duplicates import jaccard, shingles
from tests.support.crawling import crawl, stored

ARTICLE_JA = ("ソニーは新しいワイヤレスイヤホンを発表した。バッテリーは最大十二時間持続し、ノイズキャンセリング性能も"
              "前モデルより向上したという。価格は税込三万円前後で、来月から全国の家電量販店で販売される予定だ。"
              "同社によると、通話品質も改善され、風の強い屋外でも相手の声が聞き取りやすくなった。")
ARTICLE_EN = ("Anker recalled a batch of its portable chargers after reports that some units overheated while "
              "charging phones overnight. The company said owners should stop using the affected models and "
              "request a free replacement through its support site, and that no injuries had been reported.")
OTHER_EN = ("Anker opened a new flagship store in Tokyo this weekend, selling chargers, cables and speakers, "
            "with a repair counter where customers can bring in older devices for a battery check.")


def rss(items: list[tuple[str, str, str]]) -> str:
    entries = "".join(f"<item><title>{escape(title)}</title><link>{escape(link)}</link><guid>{escape(link)}</guid>"
                      f"<pubDate>{formatdate(1763000000 + n * 3600, usegmt=True)}</pubDate>"
                      f"<description>{escape(text)}</description></item>"
                      for n, (title, link, text) in enumerate(items))
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>{entries}</channel></rss>'


def test_shingles_see_through_width_case_and_spacing():
    copy = ARTICLE_JA.replace("ソニー", "ｿﾆｰ") + "（転載元：家電ニュース）"
    assert jaccard(shingles(ARTICLE_JA), shingles(copy)) >= 0.8
    assert jaccard(shingles(ARTICLE_EN), shingles(ARTICLE_EN.upper().replace(" ", "  "))) == 1.0
    assert jaccard(shingles(ARTICLE_EN), shingles(OTHER_EN)) < 0.2


@pytest.mark.slow
def test_syndicated_posts_are_marked_not_indexed_twice(tmp_path, es_url, index_prefix, kuchikomi_home):
    site = tmp_path / "site"
    site.mkdir()
    (site / "news.xml").write_text(rss([
        ("ソニー、新イヤホン発表", "https://news.example/a/1", ARTICLE_JA),
        ("Anker recalls chargers", "https://news.example/a/2", ARTICLE_EN),
        ("Anker store", "https://news.example/a/3", OTHER_EN),
        ("short", "https://news.example/a/4", "Same here, +1"),
    ]), encoding="utf-8")
    # A portal re-publishing the same day: one copy edited a little, and a short post that only looks alike.
    (site / "portal.xml").write_text(rss([
        ("【速報】ソニー新イヤホン", "https://portal.example/n/77?utm_source=rss",
         ARTICLE_JA.replace("ソニー", "ＳＯＮＹ") + "（提供：ニュースサイト）"),
        ("short", "https://portal.example/n/78", "Same here, +1!"),
    ]), encoding="utf-8")
    # Next week an aggregator copies the English article: found through the index, not this crawl's memory.
    (site / "aggregator.xml").write_text(rss([
        ("Anker chargers recalled", "https://agg.example/story/9",
         "Via news.example: " + ARTICLE_EN.replace("overnight", "over night")),
    ]), encoding="utf-8")
    with StaticSite(site) as served:
        def monitor(*feeds) -> tuple[list[dict], list[dict]]:
            result = crawl(tmp_path, es_url, index_prefix, [
                {"name": feed, "spider": "feed", "start_urls": [f"{served.url}/{feed}.xml"]} for feed in feeds])
            assert result.returncode == 0, result.stderr[-2000:]
            return stored(es_url, index_prefix), stored(es_url, index_prefix, "copies")

        posts, copies = monitor("news", "portal")
        assert len(posts) == 5  # 4 news posts + the portal's short one; the portal's article is a copy
        [copy] = copies
        # The two feeds are crawled side by side, so either telling is the first; the other is its copy.
        pair = {"https://news.example/a/1", "https://portal.example/n/77"}
        kept_ids = {post["source_url"].split("?")[0]: post["doc_id"] for post in posts}
        [kept] = pair & set(kept_ids)
        assert copy["url"].split("?")[0] == (pair - {kept}).pop() and copy["original"] == kept_ids[kept]
        assert copy["similarity"] >= 0.8

        posts, copies = monitor("aggregator")
        assert len(posts) == 5
        assert {c["url"] for c in copies} >= {"https://agg.example/story/9"}
        english = next(post["doc_id"] for post in posts if post["source_url"] == "https://news.example/a/2")
        assert [c["original"] for c in copies if c["url"] == "https://agg.example/story/9"] == [english]
