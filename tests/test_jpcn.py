"""Japanese and Chinese platforms: every saved page and API answer in ../shared/fixtures/jpcn through
`kuchikomi extract`, paging and 5ch's differential fetch against local servers, refusals, full articles
of feed entries, and brand matching and sentiment on the posts."""
import json
import re
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from kuchikomi.config import ConfigError, load_monitor
from tests.support.cli import kuchikomi
from tests.support.crawling import crawl, stored
from tests.support.servers import LocalServer, Reply, html


def jpcn(shared, name):
    return shared / "fixtures" / "jpcn" / name


def extract(*args):
    result = kuchikomi("extract", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def js_answers(path) -> dict:
    """The API answers a fixture keeps inside JavaScript (`let x = {...}`, `export const comments = ...`,
    unquoted keys, trailing commas), as the JSON the API itself answers, by variable name."""
    json5 = pytest.importorskip("json5")
    text = path.read_text(encoding="utf-8")
    parts = re.split(r"^(?:export\s+)?(?:let|const|var)\s+(\w+)\s*=\s*", text, flags=re.M)
    return {name: json5.loads(body.strip().rstrip(";")) for name, body in zip(parts[1::2], parts[2::2])}


def answer_file(tmp_path, name: str, data) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


TABELOG = "https://tabelog.com/tokyo/A1304/A130402/13041176/dtlrvwlst/"


@pytest.mark.parametrize("name, how, count, first", [
    # MANIFEST: count=80, first 名無しさん＠お腹いっぱい。 2008/08/17(日) 15:30:19, title （　＾＾ω）ﾎﾏﾎﾏ6
    ("5ch/twoB_example_1-80_.dat", ["--url", "https://be.2ch.net/be/dat/1218954619.dat"], 80,
     {"author": "名無しさん＠お腹いっぱい。", "published_at": "2008-08-17T15:30:19+09:00", "title": "（ ＾＾ω）ﾎﾏﾎﾏ6",
      "author_id": "1hlWO7Vt", "review_id": "5ch:be:1218954619:1"}),
    # The delta file, read alone (--platform: its file name says nothing): 20 posts; the name's
    # </b>◆trip<b> markup is the trip, kept as text.
    ("5ch/twoB_example_81-100_.dat", ["--platform", "fivech"], 20,
     {"author": "Shane● ◆SO905i.MTs", "published_at": "2008-08-26T17:40:58+09:00", "author_id": "QRl3aXZc"}),
    # 21 blocks on page 1 (a pinned review beside 1～20件); the visit month kept at month precision.
    ("tabelog/tabelog_kuchikomi.html", ["--url", TABELOG], 21,
     {"author": "マッシュグルメ", "rating": 4.2, "published_at": "2021-06-01", "date_precision": "month",
      "item_name": "ハンバーグ ウィル"}),
    # 5 short comments (the placeholder skipped) and 10 long reviews.
    ("douban/movie_subject_3541415.html", ["--url", "https://movie.douban.com/subject/3541415/"], 15,
     {"author": "山风如月", "rating": 5.0, "published_at": "2010-09-01T10:06:31+08:00", "votes": 47799}),
    ("douban/movie_subject_26895436.html", ["--url", "https://movie.douban.com/subject/26895436/"], 15,
     {"author": "归去来兮", "rating": 3.0, "published_at": "2021-08-13T20:25:33+08:00"}),
    ("dianping/au79_comments_p1.html", ["--url", "https://www.dianping.com/shop/97567356/review_all"], 20,
     {"author": "CathyJill", "rating": 4.0, "published_at": "2018-05-27T20:00:00+08:00", "votes": 3}),
    # 30 floors (the ad floor skipped) and 26 sub-replies in the DOM; a floor and two sub-replies
    # of stickers only have no text, so 29 + 24 posts.
    ("tieba/note_comments.html", ["--url", "https://tieba.baidu.com/p/9119688421"], 53,
     {"author": "heinzfrentzen", "published_at": "2024-08-06T22:09:00+08:00",
      "title": "【强烈恭喜】全红婵陈宇汐包揽跳水女子10米台巴黎奥运金银牌！"}),
    # 10 sub-replies, the first (heinzfrentzen's) of stickers only: 9 posts.
    ("tieba/note_sub_comments.html", ["--url", "https://tieba.baidu.com/p/comment?tid=9119688421&pid=1"], 9,
     {"author": "可爱的搬运工94", "published_at": "2024-08-06T22:12:00+08:00"}),
    # 48 threads inside HTML comments.
    ("tieba/tieba_note_list.html", ["--url", "https://tieba.baidu.com/f?kw=%E7%9B%97%E5%A2%93%E7%AC%94%E8%AE%B0"], 48,
     {"author": "公子伯仲", "title": "盗墓笔记全集+txt小说，已整理", "votes": 18,
      "review_url": "https://tieba.baidu.com/p/9079949995"}),
    # 20 replies and their 29 nested replies.
    ("bilibili/reply_jsondata_example.js",
     ["--url", "https://api.bilibili.com/x/v2/reply?type=1&oid=113625742184800&pn=1"], 49,
     {"author": "北方技术党", "published_at": "2024-12-10T09:01:25+08:00", "votes": 153}),
    # 781 bookmarks, 133 with a comment (the first bookmark, Ni-nja's, has none).
    ("hatena/hatebu_comments.json", ["--url", "https://b.hatena.ne.jp/entry/jsonlite/?url=http%3A%2F%2Fx"], 133,
     {"author": "ntstn", "published_at": "2018-06-20T11:12:00+09:00"}),
    ("appstore/kansou_app_store_reviews.xml", ["--platform", "appstore"], 25,
     {"author": "りえたん0218", "rating": 2.0, "published_at": "2015-11-03", "title": "エラーが、、"}),
])
def test_every_saved_page_and_answer_through_extract(shared, name, how, count, first):
    items = extract(jpcn(shared, name), *how)
    assert len(items) == count
    got = {key: items[0]["rating"]["value"] if key == "rating" else items[0].get(key) for key in first}
    assert got == first


def test_douban_long_reviews_and_tieba_sub_replies_keep_their_own_fields(shared):
    douban = extract(jpcn(shared, "douban/movie_subject_3541415.html"), "--url",
                     "https://movie.douban.com/subject/3541415/")
    long = [i for i in douban if i.get("title")]
    assert len(long) == 10 and (long[0]["author"], long[0]["rating"]["value"]) == ("文艺复兴人", 5.0)
    assert long[0]["published_at"] == "2010-07-16T20:40:54+08:00" and long[0]["title"] == "Inception 情节逻辑完全解析"
    assert not long[0]["body"].endswith("展开")
    tieba = extract(jpcn(shared, "tieba/note_comments.html"), "--url", "https://tieba.baidu.com/p/9119688421")
    replies = [i for i in tieba if i.get("parent_id")]
    floors = {i["review_id"] for i in tieba if not i.get("parent_id")}
    assert len(replies) == 24 and {r["parent_id"] for r in replies} <= floors
    assert (replies[0]["author"], replies[0]["body"]) == ("hxw19890526", "厉害啊")
    assert len(floors) == 29 and "150726491368" in floors  # floor 1; the ad floor has no id


def test_bilibili_nested_replies_are_posts_with_their_parent(shared):
    items = extract(jpcn(shared, "bilibili/reply_jsondata_example.js"), "--url",
                    "https://api.bilibili.com/x/v2/reply?type=1&oid=113625742184800&pn=1")
    top = [i for i in items if "parent_id" not in i]
    nested = [i for i in items if "parent_id" in i]
    assert (len(top), len(nested)) == (20, 29)
    # A nested reply answers its root reply, or another reply under it (the page shows a few of those).
    assert items[1]["parent_id"] == items[0]["review_id"]
    assert all(n["parent_id"].startswith("bilibili:") for n in nested)
    assert sum(n["parent_id"] in {t["review_id"] for t in top} for n in nested) >= 25
    assert top[0]["review_url"] == "https://www.bilibili.com/video/av113625742184800#reply248865806529"


def test_app_store_third_legacy_review(shared):
    third = extract(jpcn(shared, "appstore/kansou_app_store_reviews.xml"), "--platform", "appstore")[2]
    assert (third["author"], third["rating"]["value"], third["published_at"]) == ("amtq7+15<9", 1.0, "2015-11-01")


def test_app_store_customer_reviews_feed_pages_to_ten():
    from crawlers.extraction.platform_posts import appstore
    feed = {"feed": {"entry": [
        {"im:name": {"label": "Some App"}},  # the app itself, listed first
        {"author": {"name": {"label": "ゆき"}}, "im:rating": {"label": "1"}, "title": {"label": "落ちる"},
         "content": {"label": "起動するとすぐ落ちます"}, "id": {"label": "9001"},
         "updated": {"label": "2024-05-01T10:00:00-07:00"}, "im:voteCount": {"label": "4"}}]}}
    url = "https://itunes.apple.com/jp/rss/customerreviews/page=1/id=285951864/sortby=mostrecent/json"
    page = appstore(json.dumps(feed, ensure_ascii=False).encode(), url)
    [review] = page.posts
    assert (review.author, review.rating["value"], review.votes, review.kind) == ("ゆき", 1.0, 4, "review")
    assert review.published_at == "2024-05-01T10:00:00-07:00" and page.newest_first
    assert page.next_url == url.replace("page=1", "page=2")
    assert appstore(json.dumps(feed).encode(), url.replace("page=1", "page=10")).next_url is None


def test_weibo_statuses_and_comments(shared, tmp_path):
    answers = js_answers(jpcn(shared, "weibo/mweibo_cn_responses.js"))
    timeline = "https://m.weibo.cn/api/container/getIndex?type=uid&value=1669879400&containerid=1076031669879400"
    statuses = extract(answer_file(tmp_path, "cards", answers["cards1"]), "--url", timeline)
    assert len(statuses) == 10 and statuses[0]["author"] == "Dear-迪丽热巴"
    this_year = datetime.now(timezone.utc).year
    assert statuses[0]["published_at"] in (f"{this_year}-06-14", f"{this_year - 1}-06-14")  # 06-14: this year
    assert statuses[0]["body"] == "搬完这块砖，就可以吃好吃的了"  # the emoticon images are no text
    shown = extract(answer_file(tmp_path, "show", answers["comments1"]), "--url",
                    "https://m.weibo.cn/api/comments/show?id=4383183661430868&page=1")
    assert len(shown) == 2 and shown[0]["author"] == "迪热热的毛裤诶"
    just_now = datetime.fromisoformat(shown[0]["published_at"])  # 刚刚: the fetch time
    assert abs((datetime.now(timezone.utc) - just_now).total_seconds()) < 120
    hot = extract(answer_file(tmp_path, "hot", answers["comments2"]), "--url",
                  "https://m.weibo.cn/comments/hotflow?id=4383183661430868&mid=4383183661430868&max_id_type=0")
    top = [c for c in hot if "parent_id" not in c]
    assert len(top) == 20 and (top[0]["author"], top[0]["published_at"]) == ("护舒宝", "2019-06-14T20:39:20+08:00")
    assert all(c["parent_id"].startswith("weibo:") for c in hot if "parent_id" in c)
    # Next pages: the hotflow's max_id, the comment list's page number, the timeline's page.
    from crawlers.extraction.platform_posts import weibo
    assert "max_id=314345666829623" in weibo(answers["comments2"], "https://m.weibo.cn/comments/hotflow?id=1").next_url
    assert weibo(answers["comments1"], "https://m.weibo.cn/api/comments/show?id=1&page=1").next_url.endswith("page=2")


def test_xiaohongshu_comments_and_sub_comments(shared, tmp_path):
    page = js_answers(jpcn(shared, "xiaohongshu/comment_page.js"))["res"]
    url = "https://edith.xiaohongshu.com/api/sns/web/v2/comment/page?note_id=66696f98000000000d00f289&cursor="
    items = extract(answer_file(tmp_path, "comments", page), "--url", url)
    top = [c for c in items if "parent_id" not in c]
    assert len(top) == 10 and len(items) == 19  # and their 9 embedded sub-comments
    assert (top[0]["author"], top[0]["published_at"]) == ("是奶芙呀~", "2024-07-17T09:13:48+08:00")
    sub = js_answers(jpcn(shared, "xiaohongshu/sub_comment_page.js"))["res"]
    sub_url = ("https://edith.xiaohongshu.com/api/sns/web/v2/comment/sub/page?note_id=66f4f758000000001902f8e1"
               "&root_comment_id=66f59e10000000000b023cb5&num=10&cursor=66f60002000000000f00769e")
    replies = extract(answer_file(tmp_path, "sub", sub), "--url", sub_url)
    assert len(replies) == 5 and (replies[0]["author"], replies[0]["published_at"]) == (
        "ui_", "2024-09-27T09:27:40+08:00")
    assert all(r["parent_id"].startswith("xhs:") for r in replies)
    from crawlers.extraction.platform_posts import xiaohongshu
    assert "cursor=66f60da8000000001202e41e" in xiaohongshu(sub, sub_url).next_url


def test_taobao_ratings_are_good_neutral_or_bad_not_stars(shared, tmp_path):
    answer = js_answers(jpcn(shared, "taobao/mtop_wdetail_getitemrates_comment.js"))["comments"]
    items = extract(answer_file(tmp_path, "rates", answer), "--url",
                    "https://h5api.m.taobao.com/h5/mtop.wdetail.getitemrates/3.0/?data=x")
    assert len(items) == 10 and (items[0]["author"], items[0]["published_at"]) == ("x**9", "2019-08-21")
    assert items[0]["rating"] == {"value": 1.0, "best": 1.0, "worst": -1.0, "normalized": 1.0}  # rateType 1
    assert items[0]["kind"] == "review"


@pytest.mark.parametrize("url, answer, says", [
    ("https://api.bilibili.com/x/v2/reply?type=1&oid=1", {"code": -101, "message": "账号未登录"}, "code -101: 账号未登录"),
    ("https://m.weibo.cn/comments/hotflow?id=1", {"ok": -100, "url": "https://passport.weibo.cn/signin"}, "ok=-100"),
    ("https://edith.xiaohongshu.com/api/sns/web/v2/comment/page?note_id=1", {"code": -100, "success": False,
                                                                           "msg": "登录已过期"}, "登录已过期"),
    ("https://h5api.m.taobao.com/h5/mtop.wdetail.getitemrates/3.0/", {"ret": ["FAIL_SYS_TOKEN_EMPTY::令牌为空"]},
     "FAIL_SYS_TOKEN_EMPTY"),
])
def test_a_refusal_is_one_clear_line(tmp_path, url, answer, says):
    result = kuchikomi("extract", answer_file(tmp_path, "refused", answer), "--url", url)
    assert result.returncode == 1 and "refused" in result.stderr and says in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_an_article_is_one_post_of_its_main_text(shared):
    page = shared / "fixtures" / "benchmarks" / "readability-test-pages" / "guardian-1" / "source.html.gz"
    [post] = extract(page, "--url", "https://www.theguardian.com/world/2019/jan/03/whales")
    assert post["kind"] == "post" and post["author"] == "Eleanor Ainge Roy"
    assert post["title"].startswith("'What is the sea telling us?'")
    assert post["body"].startswith("Whale whisperer Hori Parata was just seven years old") and len(post["body"]) > 3000
    assert post["published_at"].startswith("2019-01-03")


def test_extract_picks_shipped_profiles_by_url_and_names_unknown_platforms(shared):
    page = shared / "fixtures" / "reviews" / "amazon" / "amazon.it_product-reviews-B07747FR44-1.html"
    assert len(extract(page, "--url", "https://www.amazon.it/product-reviews/B07747FR44")) == 10
    result = kuchikomi("extract", page, "--platform", "myspace")
    assert result.returncode == 2 and "no such platform" in result.stderr and "bilibili" in result.stderr


def test_a_5ch_post_naming_a_brand_in_half_width_katakana_is_matched_and_classified(tmp_path):
    from crawlers.extraction.platform_posts import fivech
    from pipelines.brands import BrandMatchPipeline
    from sentiment.model import load_classifier
    from crawlers.extraction.platforms import post_item
    dat = ("名無しさん<>sage<>2024/05/01(水) 10:00:00.00 ID:abcd1234<> ｿﾆｰのイヤホン、一週間で壊れた。最悪 <br> "
           "<a href=\"../test/read.cgi/av/1714525200/1\">&gt;&gt;1</a> 返品したい <>イヤホン総合スレ\n")
    [post] = fivech(dat.encode("cp932").decode("cp932"), "https://egg.5ch.net/av/dat/1714525200.dat").posts
    item = post_item(post, "5ch")
    assert item["body"] == "ｿﾆｰのイヤホン、一週間で壊れた。最悪\n>>1 返品したい"  # <br> a newline, the anchor as text
    matched = BrandMatchPipeline([{"name": "Sony", "aliases": ["ソニー"]}]).process_item(item)
    assert matched["brands"] == ["Sony"]
    [sentiment] = load_classifier({}).classify([item["body"]])
    assert sentiment["label"] == "negative"


def test_source_options_for_sessions_and_articles(tmp_path):
    def monitor(source):
        path = tmp_path / "monitor.yaml"
        path.write_text(json.dumps({"sources": [source]}), encoding="utf-8")
        return load_monitor(path)

    source = monitor({"name": "weibo", "spider": "forum", "platform": "weibo", "cookies": {"SUB": "secret"},
                      "headers": {"Referer": "https://m.weibo.cn/"}, "start_urls": ["https://m.weibo.cn/api/x"]})
    assert source.sources[0]["cookies"] == {"SUB": "secret"}
    assert monitor({"name": "news", "spider": "feed", "follow_articles": True,
                    "start_urls": ["https://news.example/feed"]}).sources[0]["follow_articles"]
    with pytest.raises(ConfigError, match="follow_articles: only a feed source"):
        monitor({"name": "x", "follow_articles": True, "start_urls": ["https://a.example/"]})
    with pytest.raises(ConfigError, match="`headers` and `cookies` are for forum sources"):
        monitor({"name": "x", "cookies": {"a": "b"}, "start_urls": ["https://a.example/"]})


# Crawls run in a subprocess (Scrapy's reactor starts once per process), without Elasticsearch: the spider and
# the text stages, the items written as JSON lines, the crawl's stats printed last.
RUNNER = """
import json, sys
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from crawlers import settings as project
from kuchikomi.crawl import SPIDERS
spider, options, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
settings = Settings()
settings.setmodule(project)
settings.update({"ITEM_PIPELINES": {"pipelines.normalise.NormalisePipeline": 100,
                                    "pipelines.clean.CleanTextPipeline": 200, "pipelines.dedup.DedupPipeline": 400},
                 "FEEDS": {out: {"format": "jsonlines"}}, "ROBOTSTXT_OBEY": False, "AUTOTHROTTLE_ENABLED": False,
                 "DOWNLOAD_DELAY": 0, "HTTPCACHE_ENABLED": False, "LOG_LEVEL": "WARNING",
                 "KUCHIKOMI_JOBS_DIR": sys.argv[4]})
process = CrawlerProcess(settings)
crawler = process.create_crawler(SPIDERS[spider])
process.crawl(crawler, **options)
process.start()
print(json.dumps({k: v for k, v in crawler.stats.get_stats().items() if k.startswith("kuchikomi/")}))
"""


def run_spider(tmp_path, spider: str, **options) -> tuple[list[dict], dict, str]:
    out = tmp_path / f"items-{len(list(tmp_path.glob('items-*')))}.jsonl"
    result = subprocess.run([sys.executable, "-c", RUNNER, spider, json.dumps(options), str(out),
                             str(tmp_path / "jobs")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    items = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    return items, json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


TABELOG_PAGE_2 = """<html><body>
<div class="rvw-item" data-detail-url="/tokyo/A1304/A130402/13041176/dtlrvwlst/B418120743/?use_type=0">
  <p class="rvw-item__rvwr-name"><a href="/rvwr/004988526/"><span class="lev"><span>マッシュグルメ</span></span></a></p>
  <p class="rvw-item__ratings-total"><b class="c-rating-v2__val">4.2</b></p>
  <div class="rvw-item__date"><p>2021/06訪問</p></div>
  <div class="rvw-item__rvw-comment"><p>豚ハンバーグの最高峰。</p></div>
  <a class="rvw-item__showall-trigger" data-bookmark-id="418120743">もっと見る</a></div>
<div class="rvw-item" data-detail-url="/tokyo/A1304/A130402/13041176/dtlrvwlst/B1/">
  <p class="rvw-item__rvwr-name"><a href="/rvwr/x/"><span class="lev"><span>はなこ</span></span></a></p>
  <p class="rvw-item__ratings-total"><b class="c-rating-v2__val">2.8</b></p>
  <div class="rvw-item__date"><p>2020/01訪問</p></div>
  <div class="rvw-item__rvw-comment"><p>ソースが少し塩辛かった。</p></div>
  <a class="rvw-item__showall-trigger" data-bookmark-id="1">もっと見る</a></div>
</body></html>"""


def tabelog_site(shared) -> LocalServer:
    """The saved Tabelog review list as page 1 (its links pointing here) and TABELOG_PAGE_2 as page 2."""
    first = jpcn(shared, "tabelog/tabelog_kuchikomi.html").read_bytes()

    def answer(path: str, headers) -> Reply:
        if "PG=2" in path:
            return html(TABELOG_PAGE_2.encode())
        return html(first.replace(b"https://tabelog.com/", f"{server.url}/".encode()))

    server = LocalServer(answer)
    return server


@pytest.mark.slow
def test_tabelog_paging_on_a_local_server_stores_the_pinned_review_once(shared, tmp_path, kuchikomi_home):
    with tabelog_site(shared) as server:
        items, stats, _ = run_spider(tmp_path, "reviews", source="tabelog", profile="tabelog",
                                     start_urls=[f"{server.url}/tokyo/A1304/A130402/13041176/dtlrvwlst/"])
    assert any("PG=2" in path for path in server.requests)
    # Page 2 (linked twice from page 1) shows the pinned review again: each review is stored once.
    assert len(items) == 22 and stats["kuchikomi/dropped/duplicate"] >= 1
    assert [i["author"] for i in items].count("マッシュグルメ") == 1
    assert "はなこ" in {i["author"] for i in items}


@pytest.mark.slow
def test_tabelog_reviews_with_month_dates_are_stored_in_the_index(shared, tmp_path, es_url, index_prefix,
                                                                 kuchikomi_home):
    """The whole crawl, Elasticsearch included: a month-only visit date is stored with its precision."""
    with tabelog_site(shared) as server:
        result = crawl(tmp_path, es_url, index_prefix, [{
            "name": "tabelog", "profile": "tabelog",
            "start_urls": [f"{server.url}/tokyo/A1304/A130402/13041176/dtlrvwlst/"]}], obey_robots_txt=False)
    assert result.returncode == 0, result.stderr[-3000:]
    docs = stored(es_url, index_prefix)
    assert len(docs) == 22
    [mash] = [doc for doc in docs if doc["author"] == "マッシュグルメ"]
    assert mash["published_at"] == "2021-06-01" and mash["date_precision"] == "month"
    assert mash["rating"]["value"] == 4.2


class DatServer(LocalServer):
    """A 5ch server: the thread's .dat as it stands, honouring Range like 5ch does (206, or 416 past the end)."""

    def __init__(self):
        self.dat = b""
        self.ranges: list[str] = []

        def answer(path: str, headers) -> Reply:
            asked = headers.get("Range")
            self.ranges.append(asked)
            kind = {"Content-Type": "text/plain; charset=Shift_JIS"}
            if not asked:
                return Reply(200, self.dat, kind)
            start = int(asked.split("=")[1].rstrip("-"))
            if start >= len(self.dat):
                return Reply(416, b"", kind)
            return Reply(206, self.dat[start:], {**kind, "Content-Range": f"bytes {start}-{len(self.dat) - 1}/*"})

        super().__init__(answer)


@pytest.mark.slow
def test_a_5ch_thread_is_fetched_again_from_where_the_last_crawl_ended(shared, tmp_path, kuchikomi_home):
    first = jpcn(shared, "5ch/twoB_example_1-80_.dat").read_bytes()
    more = jpcn(shared, "5ch/twoB_example_81-100_.dat").read_bytes()
    with DatServer() as server:
        url = f"{server.url}/be/dat/1218954619.dat"
        server.dat = first
        crawled, _, _ = run_spider(tmp_path, "forum", source="thread", platform="fivech", start_urls=[url])
        server.dat = first + more
        delta, _, _ = run_spider(tmp_path, "forum", source="thread", platform="fivech", start_urls=[url])
        unchanged, stats, _ = run_spider(tmp_path, "forum", source="thread", platform="fivech", start_urls=[url])
    assert len(crawled) == 80 and crawled[0]["title"] == "（ ＾＾ω）ﾎﾏﾎﾏ6"
    assert server.ranges == [None, f"bytes={len(first) - 1}-", f"bytes={len(first + more) - 1}-"]
    assert [d["review_id"].rsplit(":", 1)[1] for d in delta] == [str(n) for n in range(81, 101)]
    assert delta[0]["author"] == "Shane● ◆SO905i.MTs" and {d["title"] for d in delta} == {"（ ＾＾ω）ﾎﾏﾎﾏ6"}
    assert unchanged == [] and stats["kuchikomi/pages"] == 1


@pytest.mark.slow
def test_a_platform_that_refuses_is_a_warning_and_a_counted_skip(tmp_path, kuchikomi_home):
    seen = []

    def answer(path: str, headers) -> Reply:
        seen.append((headers.get("Cookie"), headers.get("X-Client")))
        if path.startswith("/forbidden"):
            return Reply(403, b"<html>forbidden</html>", {"Content-Type": "text/html"})
        if path.startswith("/login"):
            return html(b"<!DOCTYPE html><html><body>login</body></html>")
        return Reply(200, json.dumps({"ok": -100, "url": "https://passport.weibo.cn/signin"}).encode(),
                     {"Content-Type": "application/json"})

    with LocalServer(answer) as server:
        items, stats, log = run_spider(tmp_path, "forum", source="weibo", platform="weibo",
                                       cookies={"SUB": "s3cret-session"}, headers={"X-Client": "mine"},
                                       start_urls=[f"{server.url}/api/comments/show?id=1", f"{server.url}/forbidden",
                                                   f"{server.url}/login"])
    assert items == [] and stats["kuchikomi/skipped/platform_refused"] == 3
    # tldextract warns on its own when it cannot fetch the public suffix list (no network here): not ours
    warnings = [line for line in log.splitlines() if "WARNING" in line and "[tldextract]" not in line]
    assert len(warnings) == 3 and "HTTP 403" in log and "ok=-100" in log and "login or captcha" in log
    assert "cookies:" in log and "s3cret-session" not in log  # the fix is named, the secret is not shown
    assert set(seen) == {("SUB=s3cret-session", "mine")}  # the user's own session went with every request


@pytest.mark.slow
def test_a_feed_with_follow_articles_stores_each_articles_main_text(tmp_path, kuchikomi_home):
    article = " ".join(["ソニーの新しいヘッドホンは一週間充電が持つと発表された。"] * 8)
    feed = f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>News</title>
      <item><title>新製品</title><link>{{url}}/news/1</link><guid>n1</guid><description>要約だけ</description></item>
      <item><title>消えた記事</title><link>{{url}}/news/gone</link><guid>n2</guid><description>要約</description></item>
      </channel></rss>"""

    def answer(path: str, headers) -> Reply:
        if path == "/feed":
            return Reply(200, feed.replace("{url}", server.url).encode(), {"Content-Type": "application/rss+xml"})
        if path == "/news/1":
            return html(f"<html><body><nav>メニュー</nav><article><h1>新製品</h1><p>{article}</p></article>"
                        f"</body></html>".encode())
        return Reply(404, b"")

    with LocalServer(answer) as server:
        items, stats, _ = run_spider(tmp_path, "feed", source="news", follow_articles=True,
                                     start_urls=[f"{server.url}/feed"])
    by_title = {i["title"]: i for i in items}
    assert article in by_title["新製品"]["body"] and "メニュー" not in by_title["新製品"]["body"]
    assert by_title["消えた記事"]["body"] == "要約"  # the page failed: the feed's summary is kept
    assert stats["kuchikomi/articles"] == 1
