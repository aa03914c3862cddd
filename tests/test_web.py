"""The web workspace over plain HTTP, served by uvicorn on 127.0.0.1 against the real node: sign-in, sessions,
roles and CSRF checked on the server, corrections with their alerts, triage, audit, escaping, the pages' data."""
import csv
import io
import re
from datetime import datetime, timedelta, timezone

import pyarrow.parquet as pq
import pytest
import requests

from kuchikomi.summary import record_crawls
from tests.support.cli import kuchikomi
from tests.support.workspace import HOSTILE_ID, PASSWORDS, Workspace, served_workspace
from web.i18n import messages
from web.security import CONTENT_SECURITY_POLICY


@pytest.fixture(scope="module")
def space(es_url, tmp_path_factory):
    with served_workspace(es_url, tmp_path_factory.mktemp("web")) as workspace:
        yield workspace


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html)[1]


def sign_in(space, name: str, language: str = "en") -> requests.Session:
    session = requests.Session()
    session.headers["Accept-Language"] = language
    token = csrf_of(session.get(f"{space.url}/login").text)
    reply = session.post(f"{space.url}/login", data={"name": name, "password": PASSWORDS[name], "csrf": token})
    assert reply.status_code == 200 and reply.url == f"{space.url}/", reply.text
    session.csrf = csrf_of(reply.text)
    return session


def stored(space, doc_id: str) -> dict:
    space.client.indices.refresh(index=space.alias)
    return space.client.search(index=space.alias, body={"query": {"term": {"doc_id": doc_id}}})["hits"]["hits"][0][
        "_source"]


@pytest.mark.slow
def test_web_refuses_to_start_without_a_user_and_names_the_command(es_url, tmp_path):
    empty = Workspace(es_url, tmp_path)
    try:
        result = kuchikomi("web", "-c", empty.config, "--port", "9")
    finally:
        empty.close()
    assert result.returncode == 2
    assert "no workspace users yet: add one with `kuchikomi users add NAME --role admin" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_users_command_adds_lists_changes_and_removes(es_url, tmp_path):
    users = Workspace(es_url, tmp_path)
    config = users.config
    try:
        added = kuchikomi("users", "add", "桜井", "--role", "analyst", "--password-stdin", "-c", config,
                          input="a long enough secret\n")
        assert added.returncode == 0 and "added 桜井 (analyst)" in added.stdout
        again = kuchikomi("users", "add", "桜井", "--role", "viewer", "--password-stdin", "-c", config,
                          input="another secret 123\n")
        assert again.returncode == 2 and "already a user '桜井'" in again.stderr
        short = kuchikomi("users", "add", "kim", "--role", "viewer", "--password-stdin", "-c", config, input="short\n")
        assert short.returncode == 2 and "at least 10 characters" in short.stderr
        no_terminal = kuchikomi("users", "add", "kim", "--role", "viewer", "-c", config)
        assert no_terminal.returncode == 2 and "--password-stdin" in no_terminal.stderr
        listing = kuchikomi("users", "list", "-c", config)
        assert "桜井" in listing.stdout and "analyst" in listing.stdout and "kim" not in listing.stdout
        stored_hash = users.client.get(index=f"{users.prefix}-users", id="user:桜井")["_source"]["password_hash"]
        assert stored_hash.startswith("$argon2id$") and "a long enough secret" not in stored_hash
        changed = kuchikomi("users", "password", "桜井", "--password-stdin", "-c", config, input="a new secret 456\n")
        assert changed.returncode == 0
        assert users.client.get(index=f"{users.prefix}-users", id="user:桜井")["_source"]["password_hash"] != stored_hash
        assert kuchikomi("users", "remove", "桜井", "-c", config).returncode == 0
        users.client.indices.refresh(index=f"{users.prefix}-audit")
        audit = users.client.search(index=f"{users.prefix}-audit", body={"sort": [{"at": "asc"}]})["hits"]["hits"]
        assert [(r["_source"]["action"], r["_source"]["target"]) for r in audit] == [
            ("add_user", "user:桜井"), ("set_password", "user:桜井"), ("remove_user", "user:桜井")]
        missing = kuchikomi("users", "remove", "桜井", "-c", config)
        assert missing.returncode == 2 and "there is no user '桜井'" in missing.stderr
    finally:
        users.close()


def test_pages_need_a_sign_in_and_the_session_cookie_is_guarded(space):
    anonymous = requests.Session()
    reply = anonymous.get(f"{space.url}/inbox?brand=Sony", allow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/login?next=/inbox%3Fbrand%3DSony"
    token = csrf_of(anonymous.get(f"{space.url}/login").text)
    wrong = anonymous.post(f"{space.url}/login", data={"name": "ana", "password": "not the password", "csrf": token})
    assert wrong.status_code == 401 and "not right" in wrong.text
    reply = anonymous.post(f"{space.url}/login", allow_redirects=False, data={
        "name": "ana", "password": PASSWORDS["ana"], "csrf": token, "next": "/inbox?brand=Sony"})
    assert reply.status_code == 303 and reply.headers["location"] == "/inbox?brand=Sony"
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    assert anonymous.get(f"{space.url}/inbox").status_code == 200
    # A redirect after sign-in never leaves the site.
    again = requests.Session()
    token = csrf_of(again.get(f"{space.url}/login").text)
    away = again.post(f"{space.url}/login", allow_redirects=False, data={
        "name": "ana", "password": PASSWORDS["ana"], "csrf": token, "next": "//evil.example/"})
    assert away.headers["location"] == "/"


def test_a_forged_or_foreign_cookie_is_no_session(space):
    forged = requests.Session()
    forged.cookies.set("kuchikomi_session", "eyJ1c2VyIjoiYWRhIn0.forged.signature")
    reply = forged.get(f"{space.url}/users", allow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/login")


def test_every_write_without_the_csrf_token_is_refused(space):
    analyst = sign_in(space, "ana")
    before = stored(space, "en-1")["sentiment"]["label"]
    writes = [("/mentions/en-1/sentiment", {"label": "negative"}), ("/mentions/en-1/triage", {"status": "answered"}),
              ("/mentions/en-1/notes", {"text": "hi"}), ("/mentions/en-1/categories", {"category": "praise"}),
              ("/alerts/x/acknowledge", {}), ("/alerts/x/retry", {}),
              ("/alerts/rules/negative-sony/test", {}), ("/saved-searches", {"name": "n", "query": ""}),
              ("/saved-searches/x/delete", {}), ("/users", {"name": "eve", "role": "admin", "password": "x" * 12}),
              ("/users/vic/remove", {}), ("/users/vic/password", {"password": "y" * 12}), ("/logout", {})]
    for path, data in writes:
        missing = analyst.post(f"{space.url}{path}", data=data)
        assert missing.status_code == 403 and "security token" in missing.text, path
        wrong = analyst.post(f"{space.url}{path}", data={**data, "csrf": "not-the-token"})
        assert wrong.status_code == 403, path
        header = analyst.post(f"{space.url}{path}", data=data, headers={"X-CSRF-Token": "not-the-token"})
        assert header.status_code == 403, path
    assert stored(space, "en-1")["sentiment"]["label"] == before
    assert analyst.get(f"{space.url}/").status_code == 200  # still signed in: the logout was refused too


def test_roles_are_checked_on_the_server(space):
    viewer = sign_in(space, "vic")
    refused = viewer.post(f"{space.url}/mentions/ja-2/sentiment", data={"label": "positive", "csrf": viewer.csrf})
    assert refused.status_code == 403 and "analyst role" in refused.text
    assert stored(space, "ja-2")["sentiment"]["label"] == "negative"
    assert viewer.post(f"{space.url}/mentions/ja-2/triage",
                       data={"status": "ignored", "csrf": viewer.csrf}).status_code == 403
    assert viewer.post(f"{space.url}/mentions/ja-2/categories",
                       data={"category": "praise", "csrf": viewer.csrf}).status_code == 403
    assert {c["name"] for c in stored(space, "ja-2")["categories"]} == {"defect", "complaint"}
    assert viewer.get(f"{space.url}/users").status_code == 403
    analyst = sign_in(space, "ana")
    assert analyst.post(f"{space.url}/users", data={"name": "eve", "role": "admin", "password": "x" * 12,
                                                     "csrf": analyst.csrf}).status_code == 403
    admin = sign_in(space, "ada")
    added = admin.post(f"{space.url}/users", data={"name": "eve", "role": "viewer", "password": "eve-password-1",
                                                    "csrf": admin.csrf})
    assert added.status_code == 200 and "eve" in admin.get(f"{space.url}/users").text
    session = requests.Session()
    token = csrf_of(session.get(f"{space.url}/login").text)
    assert session.post(f"{space.url}/login", data={"name": "eve", "password": "eve-password-1",
                                                    "csrf": token}).url == f"{space.url}/"
    # Removing a user ends their sessions at once.
    assert admin.post(f"{space.url}/users/eve/remove", data={"csrf": admin.csrf}).status_code == 200
    assert session.get(f"{space.url}/", allow_redirects=False).status_code == 303
    history = [(r["who"], r["action"], r["target"]) for r in space.client.search(
        index=f"{space.prefix}-audit", size=100, body={"query": {"prefix": {"target": "user:eve"}}})["hits"]["hits"]
        for r in [r["_source"]]]
    assert ("ada", "add_user", "user:eve") in history and ("ada", "remove_user", "user:eve") in history


def test_a_password_change_ends_the_old_sessions(space):
    viewer = sign_in(space, "vic")
    admin = sign_in(space, "ada")
    assert admin.post(f"{space.url}/users/vic/password",
                      data={"password": PASSWORDS["vic"], "csrf": admin.csrf}).status_code == 200
    assert viewer.get(f"{space.url}/", allow_redirects=False).status_code == 303
    assert sign_in(space, "vic").get(f"{space.url}/").status_code == 200


def test_sign_in_attempts_are_rate_limited(space):
    session = requests.Session()
    token = csrf_of(session.get(f"{space.url}/login").text)
    statuses = [session.post(f"{space.url}/login", data={"name": "ada", "password": f"guess {n}", "csrf": token})
                .status_code for n in range(7)]
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429
    refused = session.post(f"{space.url}/login", data={"name": "ada", "password": PASSWORDS["ada"], "csrf": token})
    assert refused.status_code == 429 and "Too many sign-in attempts" in refused.text


def test_a_correction_relabels_the_review_and_alerts_as_the_cli_does(space):
    analyst = sign_in(space, "ana")
    assert stored(space, "ja-1")["sentiment"]["label"] == "positive"
    alerts_before = space.alerts_file.read_text(encoding="utf-8").count("\n")
    reply = analyst.post(f"{space.url}/mentions/ja-1/sentiment",
                         data={"label": "negative", "note": "sarcasm", "csrf": analyst.csrf})
    assert reply.status_code == 200 and "Sentiment corrected" in reply.text
    sentiment = stored(space, "ja-1")["sentiment"]
    assert sentiment["label"] == "negative" and sentiment["corrected"] and sentiment["model_label"] == "positive"
    correction = space.client.get(index=f"{space.prefix}-sentiment-corrections", id="ja-1")["_source"]
    assert correction["corrected_by"] == "ana" and correction["note"] == "sarcasm"
    # The negative-brand rule fires for the relabelled review, exactly once, through its channel.
    lines = space.alerts_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == alerts_before + 1 and '"ja-1"' in lines[-1]
    page = analyst.get(f"{space.url}/mentions/ja-1").text
    assert "corrected the sentiment" in page and "sarcasm" in page


def test_categories_set_on_the_mention_page_are_stored_learnt_and_alerted_as_the_cli_does(space):
    analyst = sign_in(space, "ana")
    form = analyst.get(f"{space.url}/mentions/ja-5").text.split('id="categories-form"')[1].split("</form>")[0]
    assert 'value="price" checked' in form and 'value="purchase_intent" >' in form
    alerts_before = space.alerts_file.read_text(encoding="utf-8").count("\n")
    reply = analyst.post(f"{space.url}/mentions/ja-5/categories",
                         data={"category": ["price", "purchase_intent"], "csrf": analyst.csrf})
    assert reply.status_code == 200 and "Categories corrected" in reply.text
    assert stored(space, "ja-5")["categories"] == [{"name": "price", "score": 1.0, "corrected": True},
                                                   {"name": "purchase_intent", "score": 1.0, "corrected": True}]
    correction = space.client.get(index=f"{space.prefix}-sentiment-corrections", id="ja-5")["_source"]
    assert correction["categories"] == ["price", "purchase_intent"] and correction["categories_corrected_by"] == "ana"
    # Now a purchase-intent mention of Sony: the sales rule fires for it, once.
    lines = space.alerts_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == alerts_before + 1 and '"sony-leads"' in lines[-1] and '"ja-5"' in lines[-1]
    assert "corrected the categories" in analyst.get(f"{space.url}/mentions/ja-5").text
    # A name that is not a category here changes nothing.
    refused = analyst.post(f"{space.url}/mentions/ja-5/categories",
                           data={"category": ["price", "<b>lead</b>"], "csrf": analyst.csrf})
    assert refused.status_code == 400 and "&lt;b&gt;lead&lt;/b&gt;" in refused.text and "<b>lead" not in refused.text
    assert [c["name"] for c in stored(space, "ja-5")["categories"]] == ["price", "purchase_intent"]


def test_triage_notes_and_history_survive_a_recrawl(space):
    from index.storage.writer import BulkWriter
    analyst = sign_in(space, "ana")
    reply = analyst.post(f"{space.url}/mentions/zh-2/triage", data={
        "status": "in_progress", "assignee": "小林", "tags": "返品, battery, 返品", "csrf": analyst.csrf})
    assert reply.status_code == 200
    analyst.post(f"{space.url}/mentions/zh-2/notes", data={"text": "<b>客服</b> called back", "csrf": analyst.csrf})
    rewritten = {**next(d for d in space.docs if d["doc_id"] == "zh-2"), "body": "索尼耳机电池坏了，更新。",
                 "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    BulkWriter(space.client, space.alias, space.alerts_file.parent / "spool2.jsonl").write([rewritten])
    assert stored(space, "zh-2")["body"] == "索尼耳机电池坏了，更新。"
    page = analyst.get(f"{space.url}/mentions/zh-2").text
    assert 'value="小林"' in page and 'value="返品, battery"' in page
    assert "&lt;b&gt;客服&lt;/b&gt; called back" in page and "<b>客服</b>" not in page
    assert "changed the triage" in page and "added a note" in page
    inbox = analyst.get(f"{space.url}/inbox?q=电池").text
    assert "status-in_progress" in inbox


def test_alerts_page_acknowledge_retry_and_test(space):
    analyst = sign_in(space, "ana")
    page = analyst.get(f"{space.url}/alerts").text
    assert "Dead letters" in page and "negative-anker" in page and "dead letter" in page
    records = space.client.search(index=f"{space.prefix}-alerts", size=50)["hits"]["hits"]
    delivered = next(r["_source"] for r in records if r["_source"]["status"] == "delivered")
    dead = next(r["_source"] for r in records if r["_source"]["status"] == "dead")
    reply = analyst.post(f"{space.url}/alerts/{delivered['alert_id']}/acknowledge", data={"csrf": analyst.csrf})
    assert reply.status_code == 200 and "acknowledged by ana" in reply.text
    record = space.client.get(index=f"{space.prefix}-alerts", id=delivered["alert_id"])["_source"]
    assert record["acknowledged"] and record["acknowledged_by"] == "ana"
    retried = analyst.post(f"{space.url}/alerts/{dead['alert_id']}/retry", data={"csrf": analyst.csrf})
    assert retried.status_code == 200
    record = space.client.get(index=f"{space.prefix}-alerts", id=dead["alert_id"])["_source"]
    assert record["status"] == "dead" and record["updated_at"] > dead["updated_at"]  # tried again, still failing
    tested = analyst.post(f"{space.url}/alerts/rules/negative-sony/test", data={"csrf": analyst.csrf})
    assert tested.status_code == 200 and "file: delivered" in tested.text
    assert "Test alert from kuchikomi rule negative-sony" in space.alerts_file.read_text(encoding="utf-8")
    audit = space.client.search(index=f"{space.prefix}-audit", size=200)["hits"]["hits"]
    actions = {record["_source"]["action"] for record in audit}
    assert {"acknowledge_alert", "retry_alert", "test_alert_rule"} <= actions


def test_crawled_markup_is_shown_as_text_under_a_strict_policy(space):
    viewer = sign_in(space, "vic")
    for path in (f"/mentions/{HOSTILE_ID}", "/inbox", "/inbox?q=ソニー"):
        reply = viewer.get(f"{space.url}{path}")
        assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        page = reply.text
        assert "window.__pwned" in page  # the text is there ...
        assert not re.search(r"<(script|img|svg|iframe)[^>]*pwned|<script>window|onerror=\"window", page)  # ... inert
        assert 'href="javascript:' not in page
        assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/app.js" defer>']
    mention = viewer.get(f"{space.url}/mentions/{HOSTILE_ID}").text
    assert "&lt;script&gt;window.__pwned = &#34;title&#34;&lt;/script&gt;" in mention
    # The review's own address is javascript:, so the link goes to the page it was found on.
    assert '<a href="https://kakaku.example.jp/x" rel="noopener noreferrer nofollow"' in mention
    feed = viewer.get(f"{space.url}/inbox/new", params={"after": "2000-01-01T00:00:00+00:00"}).json()
    hostile = next(row for row in feed["rows"] if row["doc_id"] == HOSTILE_ID)
    assert hostile["title"].startswith("<script>")  # JSON carries the text; the page script sets it as text


def test_inbox_filters_brand_highlight_japanese_query_and_paging(space):
    viewer = sign_in(space, "vic")
    page = viewer.get(f"{space.url}/inbox", params={"q": "壊れ"}).text
    assert 'data-doc-id="ja-2"' in page and 'data-doc-id="ja-1"' not in page
    assert "<mark>ｿﾆｰ</mark>" in page  # the brand as the reviewer wrote it, marked
    panasonic = viewer.get(f"{space.url}/inbox", params={"brand": "Panasonic", "period": "all"}).text
    found = set(re.findall(r'data-doc-id="([^"]+)"', panasonic))
    assert found == {d["doc_id"] for d in space.docs if "Panasonic" in d["brands"]}
    bad = viewer.get(f"{space.url}/inbox", params={"q": '"unclosed'})
    assert bad.status_code == 200 and "not closed" in bad.text
    seen, url = [], f"{space.url}/inbox?period=all&size=5"
    while url:
        page = viewer.get(url).text
        seen += re.findall(r'data-doc-id="([^"]+)"', page)
        older = re.search(r'rel="next" href="([^"]+)"', page)
        url = f"{space.url}{older[1].replace('&amp;', '&')}" if older else None
    assert len(seen) == len(set(seen)) == len(space.docs)
    dates = [next(d for d in space.docs if d["doc_id"] == i)["published_at"] for i in seen]
    assert dates == sorted(dates, reverse=True)  # newest first


def test_inbox_shows_categories_filters_by_one_and_a_mention_lists_its_aspects(space):
    viewer = sign_in(space, "vic")
    page = viewer.get(f"{space.url}/inbox", params={"category": "defect", "period": "all"}).text
    defects = {d["doc_id"] for d in space.docs if "defect" in {c["name"] for c in d.get("categories") or []}}
    assert len(defects) >= 3 and set(re.findall(r'data-doc-id="([^"]+)"', page)) == defects
    assert '<option value="defect" selected>' in page  # the filter shows what it filters by
    assert '<a class="tag category" href="/inbox?category=defect">defect</a>' in page
    # New arrivals polled by the page keep to the filter and carry their categories for the script.
    feed = viewer.get(f"{space.url}/inbox/new", params={"after": "2000-01-01T00:00:00+00:00",
                                                        "category": "defect"}).json()
    assert {row["doc_id"] for row in feed["rows"]} == defects
    assert all("defect" in row["categories"] for row in feed["rows"])
    mention = viewer.get(f"{space.url}/mentions/zh-2").text
    aspects = mention.split('<ul class="aspects">')[1].split("</ul>")[0]
    assert "索尼耳机用了一周电池就坏了，" in aspects and "客服也不理。" in aspects
    assert '<span class="tag category">customer service</span> <span class="aspect-sentiment negative">' in aspects
    # In Japanese the shipped categories carry Japanese names; the filter and the links keep the config's names.
    japanese = sign_in(space, "vic", "ja").get(f"{space.url}/inbox", params={"category": "defect"}).text
    assert '<a class="tag category" href="/inbox?category=defect">不具合</a>' in japanese
    assert '<option value="defect" selected>不具合</option>' in japanese
    hostile = viewer.get(f"{space.url}/mentions/{HOSTILE_ID}").text
    assert "&lt;img src=x onerror=&#34;window.__pwned=7&#34;&gt;最悪。" in hostile  # an aspect is text too


def test_overview_cards_chart_links_and_share_of_voice(space):
    viewer = sign_in(space, "vic")
    page = viewer.get(f"{space.url}/", params={"period": "30d"}).text
    cutoff = (datetime.now(timezone.utc) - timedelta(days=30)).isoformat()
    recent = [d for d in space.docs if d["published_at"] >= cutoff]
    mentions = re.search(r'data-card="mentions">.*?card-value">\s*(\d+)', page, re.S)[1]
    assert int(mentions) == len(recent)
    bars = re.findall(r'<a href="(/inbox\?[^"]+)"><title>([^<]+)</title>', page)
    assert len(bars) >= 28
    href, tip = next((h, t) for h, t in bars if "since=" in h and " 0 mentions" not in t)
    expected = int(re.search(r": (\d+) mentions", tip)[1])
    inbox = viewer.get(f"{space.url}{href.replace('&amp;', '&')}").text
    assert len(re.findall(r'data-doc-id="', inbox)) == expected
    assert "Share of voice" in page and ">Sony<" in page and "Terms that set negative reviews apart" in page


def test_saved_searches_and_exports_follow_the_filter(space):
    analyst = sign_in(space, "ana")
    reply = analyst.post(f"{space.url}/saved-searches", data={
        "name": "ソニーの不満", "query": "brand=Sony&sentiment=negative", "csrf": analyst.csrf})
    assert reply.status_code == 200 and "ソニーの不満" in reply.text
    exported = analyst.get(f"{space.url}/export", params={"format": "csv", "brand": "Sony", "period": "all"})
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["doc_id"] for r in rows} == {d["doc_id"] for d in space.docs if "Sony" in d["brands"]}
    parquet = analyst.get(f"{space.url}/export", params={"format": "parquet", "language": "zh", "period": "all"})
    table = pq.read_table(io.BytesIO(parquet.content))
    assert set(table.column("language").to_pylist()) == {"zh"}
    assert analyst.get(f"{space.url}/export", params={"format": "xlsx"}).status_code == 400


def test_reports_render_all_seven_with_tables(space):
    viewer = sign_in(space, "vic")
    for report in ("mentions", "share_of_voice", "top_sites", "rating_trend", "significant_terms", "categories",
                   "aspects"):
        reply = viewer.get(f"{space.url}/reports", params={"report": report, "period": "all"})
        assert reply.status_code == 200 and 'id="report-table"' in reply.text, report
    sov = viewer.get(f"{space.url}/reports", params={"report": "share_of_voice", "language": "zh", "period": "all"})
    cells = re.findall(r"<tr><td>(\w+)</td><td>(\d+)</td>", sov.text)
    assert dict(cells) == {"Sony": "2", "Panasonic": "2", "Anker": "1"}


def test_the_interface_speaks_japanese_and_switches(space):
    viewer = sign_in(space, "vic", language="ja,en;q=0.5")
    page = viewer.get(f"{space.url}/").text
    assert '<html lang="ja">' in page and "受信箱" in page and "ネガティブ率" in page
    viewer.get(f"{space.url}/language", params={"lang": "en", "next": "/inbox"})
    assert '<html lang="en">' in viewer.get(f"{space.url}/inbox").text
    assert set(messages("en")) == set(messages("ja"))


def test_sources_page_shows_each_sources_last_crawls(space):
    now = datetime.now(timezone.utc)
    stats = {"kakaku": {"kuchikomi/pages": 12, "kuchikomi/index/created": 7, "kuchikomi/index/updated": 2,
                        "downloader/exception_type_count/twisted.internet.error.DNSLookupError": 3,
                        "downloader/response_status_count/404": 1, "log_count/ERROR": 4,
                        "start_time": now - timedelta(minutes=3), "finish_time": now, "finish_reason": "finished"}}
    record_crawls(space.monitor, stats, space.client)
    space.client.indices.refresh(index=f"{space.prefix}-crawls")
    page = sign_in(space, "vic").get(f"{space.url}/sources").text
    section = page[page.index('data-source="kakaku"'):page.index('data-source="jd"')]
    assert "<td>12</td><td>7</td><td>2</td>" in section and "DNSLookupError 3" in section and "HTTP 404 1" in section
    assert "No crawl recorded yet." in page[page.index('data-source="jd"'):]


def test_the_json_api_is_served_beside_with_its_own_keys(space):
    assert requests.get(f"{space.url}/v1/search", params={"q": "battery"}).status_code == 401
    reply = requests.get(f"{space.url}/v1/search", params={"q": "battery"},
                         headers={"X-API-Key": "analyst-key-0123456789"})
    assert reply.status_code == 200 and reply.json()["total"] >= 3


def test_spikes_are_marked_and_link_to_their_negative_mentions():
    from web import charts
    from web.overview import Bucket, _spikes
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    counts = [1, 0, 2, 1, 1, 0, 1, 9, 1]
    buckets = [Bucket(start + timedelta(days=i), start + timedelta(days=i + 1),
                      {"negative": n, "neutral": 0, "positive": 2}) for i, n in enumerate(counts)]
    _spikes(buckets)
    assert [b.spike for b in buckets] == [False] * 7 + [True, False]
    columns = [{"label": str(i), "counts": b.counts, "tip": "t", "spike": "spike!" if b.spike else ""}
               for i, b in enumerate(buckets)]
    svg = str(charts.stacked_columns("<chart>", columns, href=lambda c: f"/inbox?day={c['label']}",
                                     spike_href=lambda c: f"/inbox?day={c['label']}&sentiment=negative"))
    assert svg.count('class="spike"') == 1 and '<a href="/inbox?day=7&amp;sentiment=negative">' in svg
    assert "<title>&lt;chart&gt;</title>" in svg
