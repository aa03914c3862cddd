"""Forum and Q&A APIs: the real replies in ../shared, paging against local API servers, search templates."""
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import yaml
from elasticsearch import Elasticsearch

from crawlers.forums import discourse, hackernews, reddit, stackexchange
from crawlers.run import start_urls


def fixture(shared, *parts):
    return json.loads((shared / "fixtures" / "forums").joinpath(*parts).read_text(encoding="utf-8"))


def test_discourse_topic_and_latest_posts(shared):
    url = "https://discuss.criticalfallibilism.com/t/2144/posts.json"
    page = discourse(fixture(shared, "discourse", "api", "discuss.criticalfallibilism.com_t_2144_posts.json"), url)
    assert len(page.posts) == 20 and not page.newest_first
    first = page.posts[0]
    assert (first.author, first.published_at) == ("Elliot", "2026-01-08T19:23:48.342000+00:00")
    assert first.url == "https://discuss.criticalfallibilism.com/t/kpop-demon-hunters/2144/1" and first.text
    assert page.next_url == url + "?post_number=41"  # posts 1-21 came; ask for those ending at 41
    latest = discourse(fixture(shared, "discourse", "api", "discuss.criticalfallibilism.com_posts.json"),
                       "https://discuss.criticalfallibilism.com/posts.json")
    assert len(latest.posts) == 50 and latest.newest_first
    assert latest.posts[0].title == "People Being Bad at Logic"
    assert latest.next_url.endswith(f"?before={min(int(p.post_id.rsplit(':', 1)[1]) for p in latest.posts)}")


def test_hacker_news_algolia_search_and_items(shared):
    replies = {entry["url"]: entry["reply"] for entry in fixture(shared, "hackernews", "algolia_fixtures.json")}
    item = hackernews(replies["/api/v1/items/17"], "https://hn.algolia.com/api/v1/items/17")
    assert item.posts[0].author == "pg" and item.posts[0].text == "Is there anywhere to eat on Sandhill Road?"
    assert len(item.posts) == 3  # pg's comment and its 2 replies
    url = "https://hn.algolia.com/api/v1/search_by_date?hitsPerPage=1&tags=(story)&query=apple"
    found = hackernews(replies["/api/v1/search_by_date?hitsPerPage=1&tags=(story)&query=apple"], url)
    [post] = found.posts
    assert post.url.startswith("https://news.ycombinator.com/item?id=") and post.title and found.newest_first
    assert "page=1" in found.next_url


def test_stack_exchange_question_and_answer(shared):
    question = stackexchange(fixture(shared, "stackexchange", "api_question_17992553.json"),
                             "https://api.stackexchange.com/2.3/questions/17992553?site=stackoverflow")
    answer = stackexchange(fixture(shared, "stackexchange", "api_answer_17992906.json"),
                           "https://api.stackexchange.com/2.3/answers/17992906?site=stackoverflow")
    assert [(p.author, p.post_id) for p in question.posts] == [("codeslayer1", "se:stackoverflow.com:17992553")]
    assert [(p.author, p.post_id) for p in answer.posts] == [("dasblinkenlight", "se:stackoverflow.com:17992906")]
    assert question.posts[0].title == "Concept behind these four lines of tricky C code"
    assert question.next_url is None and answer.posts[0].published_at.startswith("2013-08-01")


def test_reddit_listing_pages_with_after():
    listing = {"data": {"after": "t3_b", "children": [
        {"kind": "t3", "data": {"id": "a", "name": "t3_a", "author": "kana", "title": "ソニーのイヤホン",
                                "selftext": "一週間で壊れた", "created_utc": 1700000000,
                                "permalink": "/r/headphones/comments/a/x/"}},
        {"kind": "t3", "data": {"id": "d", "name": "t3_d", "author": "[deleted]", "title": "gone"}}]}}
    page = reddit(listing, "https://www.reddit.com/r/headphones/new.json?limit=100")
    [post] = page.posts
    assert (post.author, post.text, post.url) == ("kana", "一週間で壊れた",
                                                  "https://www.reddit.com/r/headphones/comments/a/x/")
    assert page.newest_first and page.next_url == "https://www.reddit.com/r/headphones/new.json?limit=100&after=t3_b"


def test_search_url_templates_are_filled_with_every_brand_term():
    brands = [{"name": "Sony", "aliases": ["ソニー", "SONY"]}, {"name": "Anker"}]
    source = {"start_urls": ["https://hn.algolia.com/api/v1/search_by_date?query={query}&tags=story",
                             "https://forum.example/latest.json"]}
    assert start_urls(source, brands) == [
        "https://hn.algolia.com/api/v1/search_by_date?query=Sony&tags=story",
        "https://hn.algolia.com/api/v1/search_by_date?query=%E3%82%BD%E3%83%8B%E3%83%BC&tags=story",
        "https://hn.algolia.com/api/v1/search_by_date?query=SONY&tags=story",
        "https://hn.algolia.com/api/v1/search_by_date?query=Anker&tags=story",
        "https://forum.example/latest.json"]


class DiscourseTopic:
    """A local Discourse answering /t/7/posts.json as Discourse does (see the fixture README)."""

    def __init__(self, posts: int):
        self.posts = posts
        self.requests: list[str] = []
        topic = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                topic.requests.append(self.path)
                parts = urlsplit(self.path)
                if parts.path != "/t/7/posts.json":
                    self.send_response(404)
                    self.end_headers()
                    return
                asked = dict(parse_qsl(parts.query)).get("post_number")
                if asked is None:
                    numbers = list(range(1, min(20, topic.posts) + 1))
                else:
                    end = min(int(asked) - 1, topic.posts)
                    numbers = list(range(end, max(0, end - 20), -1))
                body = json.dumps({"post_stream": {"posts": [
                    {"id": 1000 + n, "post_number": n, "topic_id": 7, "topic_slug": "headphones",
                     "username": f"user{n}", "created_at": f"2024-05-{1 + n % 28:02d}T10:00:00.000Z",
                     "cooked": f"<p>Post {n}: ソニーのヘッドホンについて</p>"} for n in numbers]}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_discourse_thread_is_paged_to_its_end(tmp_path, es_url, index_prefix, kuchikomi_home):
    topic = DiscourseTopic(posts=47)
    try:
        config = tmp_path / "monitor.yaml"
        config.write_text(yaml.safe_dump({
            "elasticsearch": {"url": es_url, "index_prefix": index_prefix},
            "sources": [{"name": "forum", "spider": "forum", "platform": "discourse",
                         "start_urls": [f"{topic.url}/t/7/posts.json"]}],
            "crawl": {"autothrottle_start_delay": 0, "download_delay": 0}}))
        result = subprocess.run([sys.executable, "-m", "crawlers.cli", "crawl", "-c", str(config),
                                 "--log-level", "WARNING"], capture_output=True, text=True, timeout=300)
    finally:
        topic.close()
    assert result.returncode == 0, result.stderr[-2000:]
    client = Elasticsearch([es_url])
    client.indices.refresh(index=f"{index_prefix}-reviews")
    hits = client.search(index=f"{index_prefix}-reviews", body={"size": 100})["hits"]["hits"]
    assert sorted(int(h["_source"]["review_url"].rsplit("/", 1)[1]) for h in hits) == list(range(1, 48))
    assert {h["_source"]["kind"] for h in hits} == {"post"}
    pages = [path for path in topic.requests if path.startswith("/t/7/")]
    # The fourth page brings nothing new: the end of the thread.
    assert pages == ["/t/7/posts.json", "/t/7/posts.json?post_number=40", "/t/7/posts.json?post_number=59",
                     "/t/7/posts.json?post_number=67"]
