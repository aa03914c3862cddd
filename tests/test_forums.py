"""Forum and Q&A APIs: the real replies in ../shared, paging against local API servers, search templates."""
import pytest
import json
from urllib.parse import parse_qsl, urlsplit


from scrapy.http import HtmlResponse

from crawlers.extraction.forum_posts import discourse, hackernews, reddit, stackexchange, zhihu
from crawlers.extraction.site_profile import load_profile
from crawlers.spiders.reviews import structured_items
from crawlers.static_site import StaticSite
from kuchikomi.crawl import start_urls
from pipelines.clean import clean_text
from tests.support.crawling import crawl, stored
from tests.support.servers import LocalServer, Reply


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


def page(shared, *parts) -> str:
    return (shared / "fixtures" / "forums").joinpath(*parts).read_text(encoding="utf-8")


def test_discourse_crawler_view_posts_from_schema_org_markup(shared):
    response = HtmlResponse("https://meta.discourse.org/t/12483", encoding="utf-8",
                            body=page(shared, "discourse", "meta.discourse.org_t_12483.html"))
    posts = structured_items(response)
    assert [(p["kind"], p["author"], p["published_at"], p["votes"]) for p in posts] == [
        ("post", "techAPJ", "2014-02-06T04:55:19+00:00", 8), ("post", "codinghorror", "2014-02-06T05:27:06+00:00", 1)]
    assert {p["title"] for p in posts} == {"Congratulations, most stars in 2013 GitHub Octoverse!"}
    assert posts[1]["body"].startswith("Ah, cool. I was not sure how to see that")
    assert [p["review_id"] for p in posts] == ["#1", "#2"]  # the thread position: one document through edits


def test_hacker_news_item_page_through_the_shipped_profile(shared):
    posts = list(load_profile("hackernews").reviews(page(shared, "hackernews", "item_20865492.html"),
                                                    "https://news.ycombinator.com/item?id=20865492"))
    story, comments = posts[0], posts[1:]
    assert (story["author"], story["votes"], story["review_id"]) == ("rodrigo975", 46, "20865492")
    assert len(comments) == 30 and comments[0]["author"] == "robmusial"
    assert comments[0]["body"].startswith("For those that can't watch the video GregKH says")
    assert comments[0]["review_url"] == "https://news.ycombinator.com/item?id=20866502"
    assert {p["title"] for p in posts} == {"OpenBSD was Right – Linux Kernel Developer Greg Kroah-Hartman [video]"}
    assert all(p["kind"] == "post" and p["published_at"] for p in posts)  # "6 minutes ago" against the fetch time
    assert len({p["review_id"] for p in posts}) == 31


def test_zhihu_answer_and_question_pages_through_the_shipped_profile(shared):
    profile = load_profile("zhihu")
    [answer] = profile.reviews(page(shared, "zhihu", "answer_24825703_30975949.html"),
                               "https://www.zhihu.com/question/24825703/answer/30975949")
    assert (answer["review_id"], answer["author"], answer["votes"]) == ("30975949", "甜阁下", 1164)
    assert answer["title"] == "关系亲密的人之间要说「谢谢」吗？"
    expected = clean_text(page(shared, "zhihu", "answer_24825703_30975949.expected_content.html"))
    # The expected file is pretty-printed (a line break around every tag); the text is the same.
    assert "".join(answer["body"].split()) == "".join(expected.split())
    assert "发展起来的较为稳定的生活方式" in answer["body"]  # no space where a <b> begins
    assert answer["published_at"] == "2014-09-24T14:00:55+00:00"  # data-created, Unix time
    answers = list(profile.reviews(page(shared, "zhihu", "question_24825703.html"),
                                   "https://www.zhihu.com/question/24825703"))
    top = answers[0]
    assert (top["review_id"], top["author"], top["votes"]) == ("39753456", "芝士就是力量", 97)
    assert len({a["review_id"] for a in answers}) == len(answers) > 1


def test_zhihu_column_post_and_listing(shared):
    post = fixture(shared, "zhihu", "column_post_20202275.json")
    [read] = zhihu(post, "https://zhuanlan.zhihu.com/api/columns/xiepanda/posts/20202275").posts
    assert (read.title, read.author, read.votes) == ("为了做一个称职的吃货，他决定连着吃一百天转基因食物", "谢熊猫君", 963)
    assert read.published_at == "2015-09-06T20:03:31+08:00" and read.text.startswith("这是个关于科普公益项目的硬广")
    url = "https://zhuanlan.zhihu.com/api/columns/xiepanda/posts?limit=2"
    listing = zhihu([post, {**post, "slug": 20202276}], url)
    assert [p.post_id for p in listing.posts] == ["zhihu:20202275", "zhihu:20202276"] and listing.newest_first
    assert listing.next_url == url + "&offset=2"
    assert zhihu([post], url).next_url is None  # fewer than asked for: the last page


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


class DiscourseTopic(LocalServer):
    """A local Discourse answering /t/7/posts.json as Discourse does (see the fixture README)."""

    def __init__(self, posts: int):
        def answer(path: str, headers) -> Reply:
            parts = urlsplit(path)
            if parts.path != "/t/7/posts.json":
                return Reply(404)
            asked = dict(parse_qsl(parts.query)).get("post_number")
            if asked is None:
                numbers = list(range(1, min(20, posts) + 1))
            else:
                end = min(int(asked) - 1, posts)
                numbers = list(range(end, max(0, end - 20), -1))
            return Reply(200, json.dumps({"post_stream": {"posts": [
                {"id": 1000 + n, "post_number": n, "topic_id": 7, "topic_slug": "headphones",
                 "username": f"user{n}", "created_at": f"2024-05-{1 + n % 28:02d}T10:00:00.000Z",
                 "cooked": f"<p>Post {n}: ソニーのヘッドホンについて</p>"} for n in numbers]}}).encode(),
                {"Content-Type": "application/json"})

        super().__init__(answer)


@pytest.mark.slow
def test_a_discourse_thread_is_paged_to_its_end(tmp_path, es_url, index_prefix, kuchikomi_home):
    with DiscourseTopic(posts=47) as topic:
        result = crawl(tmp_path, es_url, index_prefix, [{"name": "forum", "spider": "forum", "platform": "discourse",
                                                         "start_urls": [f"{topic.url}/t/7/posts.json"]}])
    assert result.returncode == 0, result.stderr[-2000:]
    hits = stored(es_url, index_prefix)
    assert sorted(int(h["review_url"].rsplit("/", 1)[1]) for h in hits) == list(range(1, 48))
    assert {h["kind"] for h in hits} == {"post"}
    pages = [path for path in topic.requests if path.startswith("/t/7/")]
    # The fourth page brings nothing new: the end of the thread.
    assert pages == ["/t/7/posts.json", "/t/7/posts.json?post_number=40", "/t/7/posts.json?post_number=59",
                     "/t/7/posts.json?post_number=67"]


@pytest.mark.slow
def test_forum_pages_crawled_into_the_index(shared, tmp_path, es_url, index_prefix, kuchikomi_home):
    """The Discourse crawler view (schema.org) and an HN item page (profile), served locally, crawled."""
    with StaticSite(shared / "fixtures" / "forums") as site:
        result = crawl(tmp_path, es_url, index_prefix, [
            {"name": "discourse-html", "start_urls": [f"{site.url}/discourse/meta.discourse.org_t_12483.html"]},
            {"name": "hn", "profile": "hackernews", "start_urls": [f"{site.url}/hackernews/item_20865492.html"]}])
    assert result.returncode == 0, result.stderr[-2000:]
    hits = stored(es_url, index_prefix)
    by_source = {name: [h for h in hits if h["source"] == name] for name in ("discourse-html", "hn")}
    assert sorted((h["author"], h["votes"]) for h in by_source["discourse-html"]) == [("codinghorror", 1),
                                                                                       ("techAPJ", 8)]
    assert len(by_source["hn"]) == 31 and {h["kind"] for h in hits} == {"post"}
    assert [h["votes"] for h in by_source["hn"] if h["author"] == "rodrigo975"] == [46]
