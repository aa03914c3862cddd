"""The web workspace: server-rendered pages over the reviews, next to the JSON API, in one ASGI app.

Pages are Jinja2 templates with autoescaping; our own small script and stylesheet are the only ones
the pages load (the Content-Security-Policy forbids inline and foreign script). Every write is a POST
that carries the session's CSRF token, and is checked against the user's role here, on the server.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote, urlencode

from elasticsearch.exceptions import ConnectionError as ESConnectionError, TransportError
from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader
from starlette.background import BackgroundTask
from starlette.staticfiles import StaticFiles

from alerts.dispatch import AlertDispatcher, utc_now
from alerts.state import DEAD, FAILED, DeliveryState
from index.research.api import create_app
from index.research.export import write_csv, write_jsonl, write_parquet
from index.research.query import BrandNames, QuerySyntaxError
from index.research.report import REPORTS
from index.research.search import iter_documents, search
from index.storage.client import alerts_index, connect, corrections_index, crawls_index, reviews_alias
from index.storage.schema import ensure_corrections_index
from foundations.terms import TermMatcher
from sentiment.categories import definitions
from sentiment.corrections import CorrectionError, Corrections
from sentiment.model import LABELS
from web import charts, mentions
from web.i18n import LANGUAGES, Translator, negotiate
from web.indices import workspace_index
from web.overview import overview
from web.reports import report_chart
from web.security import (SECURITY_HEADERS, SESSION_COOKIE, SESSION_SECONDS, LoginThrottle, SessionCodec,
                          csrf_matches, new_session, signed_in_name)
from web.teamwork import STATUSES, Audit, SavedSearches, Triage
from web.users import ROLES, UserError, Users, may
from web.view import PERIODS, View

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
LANGUAGE_COOKIE = "kuchikomi_lang"
INBOX_PAGE = 25
API_PATHS = ("/v1/", "/openapi.json", "/docs", "/redoc")
# Served for CJK text where the browser has no CJK font of its own (shipped by mplfonts, a dependency).
CJK_FONT = files("mplfonts") / "fonts" / "NotoSansCJKsc-Regular.otf"


class NotSignedIn(Exception):
    pass


class Refused(Exception):
    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


class Workspace:
    """What the pages work on: the reviews, the team's stores and the alert machinery of one monitor."""

    def __init__(self, monitor):
        es = monitor.elasticsearch
        self.monitor = monitor
        self.client = connect(es, check=False)
        self.alias = reviews_alias(es)
        self.alerts_index = alerts_index(es)
        self.crawls_index = crawls_index(es)
        self.brands = BrandNames(monitor.brands)
        self.category_names = [category.name for category in definitions(monitor.sentiment.get("categories"))]
        self.matcher = TermMatcher(monitor.brands)
        self.users = Users(self.client, workspace_index(es, "users"))
        self.audit = Audit(self.client, workspace_index(es, "audit"))
        self.triage = Triage(self.client, workspace_index(es, "triage"))
        self.saved = SavedSearches(self.client, workspace_index(es, "saved-searches"))
        self.corrections = Corrections(self.client, ensure_corrections_index(self.client, corrections_index(es)),
                                       self.alias)
        self.dispatcher = AlertDispatcher(monitor.alerts, DeliveryState(self.client, self.alerts_index),
                                          base_dir=monitor.path.parent, client=self.client,
                                          reviews_index=self.alias)
        self.sessions = SessionCodec(self.users.session_secret())
        self.throttle = LoginThrottle()
        # Searches a page makes side by side (the sidebar's saved searches beside the page's own).
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="workspace")


class Combined:
    """The JSON API (as `kuchikomi api` serves it, with its own API-key auth) under /v1, the workspace
    everywhere else."""

    def __init__(self, workspace: FastAPI, api: FastAPI | None):
        self.workspace, self.api = workspace, api

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if self.api is not None and scope["type"] == "http" and (path.startswith(API_PATHS) or path == "/v1"):
            await self.api(scope, receive, send)
        else:
            await self.workspace(scope, receive, send)


def create_workspace(monitor):
    """The ASGI app `kuchikomi web` serves; raises ValueError when no user can sign in yet."""
    space = Workspace(monitor)
    if not space.users.exist():
        raise ValueError(f"no workspace users yet: add one with `kuchikomi users add NAME --role admin "
                         f"--config {monitor.path}`")
    api = create_app(monitor) if monitor.api.get("keys") else None
    app = build_app(space)
    return Combined(app, api)


def build_app(space: Workspace) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                            trim_blocks=True, lstrip_blocks=True)
    templates.globals.update(LABELS=LABELS, STATUSES=STATUSES, ROLES=ROLES, PERIODS=list(PERIODS),
                             LANGUAGES=LANGUAGES, safe_url=mentions.safe_url, may=may)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # --- sessions, language and headers -------------------------------------------------------------
    @app.middleware("http")
    async def session_and_headers(request: Request, call_next):
        started = time.perf_counter()
        session = space.sessions.loads(request.cookies.get(SESSION_COOKIE))
        request.state.session_changed = session is None
        request.state.session = session or new_session()
        request.state.language = negotiate(request.headers.get("accept-language"),
                                           request.cookies.get(LANGUAGE_COOKIE))
        response = await call_next(request)
        if request.state.session_changed:
            response.set_cookie(SESSION_COOKIE, space.sessions.dumps(request.state.session), max_age=SESSION_SECONDS,
                                httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        # Server time (up to the first byte of the body), for browsers' dev tools and bench/web.py.
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    def start_session(request: Request, user: dict | None) -> None:
        request.state.session = new_session(user)
        request.state.session_changed = True

    def signed_in(request: Request) -> dict:
        session = request.state.session
        user = space.users.get(session["user"]) if session.get("user") else None
        if not signed_in_name(session, user):
            raise NotSignedIn()
        return user

    def role(needed: str):
        def check(request: Request, user: dict = Depends(signed_in)) -> dict:
            if not may(user["role"], needed):
                raise Refused(Translator(request.state.language)("refused_role", role=needed))
            return user
        return check

    async def csrf(request: Request) -> None:
        """Every write carries the session's token: a form field, or the X-CSRF-Token header for fetch()."""
        token = request.headers.get("x-csrf-token")
        if token is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            token = (await request.form()).get("csrf")
        if not csrf_matches(request.state.session, token if isinstance(token, str) else None):
            raise Refused(Translator(request.state.language)("refused_csrf"))

    viewer, analyst, admin = role("viewer"), role("analyst"), role("admin")
    writes = [Depends(csrf)]

    @app.exception_handler(NotSignedIn)
    async def to_login(request: Request, exc: NotSignedIn):
        if request.url.path == "/inbox/new":
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in error['loc'][1:]) or 'request'}: {error['msg']}"
                             for error in exc.errors())
        return page(request, "error.html", status=400, message=problems)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        return page(request, "error.html", status=exc.status, message=str(exc))

    @app.exception_handler(ESConnectionError)
    async def elasticsearch_down(request: Request, exc: ESConnectionError):
        return page(request, "error.html", status=503,
                    message=Translator(request.state.language)("elasticsearch_down"))

    @app.exception_handler(TransportError)
    async def elasticsearch_failed(request: Request, exc: TransportError):
        logger.error("Elasticsearch refused a workspace request: %s", exc)
        return page(request, "error.html", status=502,
                    message=Translator(request.state.language)("elasticsearch_error"))

    def page(request: Request, template: str, status: int = 200, user: dict | None = None,
             saved: Future | None = None, **context) -> Response:
        """The rendered template; `saved` is the sidebar's saved searches if the route asked for them early."""
        language = request.state.language
        view = context.pop("view", None) or View.from_params(request.query_params)
        saved = saved.result() if saved else space.saved.list() if user else []
        translate = Translator(language)
        html = templates.get_template(template).render(
            t=translate, lang=language, user=user, csrf=request.state.session["csrf"],
            path=request.url.path, here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            view=view, saved_searches=saved, brand_names=[b["name"] for b in space.monitor.brands],
            category_names=space.category_names,
            category_labels={name: translate.category(name) for name in space.category_names}, **context)
        return HTMLResponse(html, status_code=status)

    def back(path: str, **message) -> RedirectResponse:
        return RedirectResponse(path + (f"?{urlencode(message)}" if message else ""), status_code=303)

    # --- signing in ----------------------------------------------------------------------------------
    @app.get("/login")
    def login_page(request: Request, next: str = "/"):
        return page(request, "login.html", next=local_path(next))

    @app.post("/login", dependencies=writes)
    def login(request: Request, name: str = Form("", max_length=64), password: str = Form("", max_length=1024),
              next: str = Form("/")):
        t = Translator(request.state.language)
        address = request.client.host if request.client else "unknown"
        wait = space.throttle.wait_needed(name, address)
        if wait:
            return page(request, "login.html", status=429, next=local_path(next),
                        error=t("login_throttled", seconds=int(wait) + 1))
        user = space.users.verify(name, password)
        if user is None:
            space.throttle.failed(name, address)
            wait = space.throttle.wait_needed(name, address)
            error = t("login_throttled", seconds=int(wait) + 1) if wait else t("login_failed")
            return page(request, "login.html", status=429 if wait else 401, next=local_path(next), error=error)
        start_session(request, user)
        space.audit.record(user["name"], "sign_in", f"user:{user['name']}", {"address": address})
        return RedirectResponse(local_path(next), status_code=303)

    @app.post("/logout", dependencies=writes)
    def logout(request: Request):
        start_session(request, None)
        return RedirectResponse("/login", status_code=303)

    @app.get("/language")
    def switch_language(lang: str, next: str = "/"):
        response = RedirectResponse(local_path(next), status_code=303)
        if lang in LANGUAGES:
            response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
        return response

    @app.get("/fonts/cjk.otf")
    def cjk_font():
        return FileResponse(str(CJK_FONT), media_type="font/otf", headers={"Cache-Control": "max-age=604800"})

    # --- overview and inbox ------------------------------------------------------------------------
    @app.get("/")
    def overview_page(request: Request, user: dict = Depends(viewer)):
        view = View.from_params(request.query_params)
        saved = space.pool.submit(space.saved.list)
        now = datetime.now(timezone.utc)
        errors = list(view.errors)
        figures = None
        try:
            figures = overview(space.client, space.alias, space.alerts_index, view, space.brands, now)
        except QuerySyntaxError as exc:
            errors.append(str(exc))
        timeline = chart = None
        if figures:
            t = Translator(request.state.language)
            timeline = [{"label": b.start.strftime("%m-%d" if figures["interval"] != "month" else "%Y-%m"),
                         "counts": b.counts, "start": b.start, "end": b.end,
                         "tip": t("bar_tip", start=b.start.date().isoformat(), total=b.total,
                                  negative=b.counts["negative"]),
                         "spike": t("spike_tip", negative=b.counts["negative"]) if b.spike else ""}
                        for b in figures["timeline"]]
            chart = charts.stacked_columns(
                t("mentions_over_time"), timeline,
                href=lambda c: "/inbox?" + view.link(since=c["start"].isoformat(), until=c["end"].isoformat()),
                spike_href=lambda c: "/inbox?" + view.link(since=c["start"].isoformat(), until=c["end"].isoformat(),
                                                           sentiment=["negative"]))
            figures["share_chart"] = charts.bars(
                t("share_of_voice"), [{"label": r["brand"], "counts": {k: r[k] for k in LABELS}}
                                      for r in figures["share_of_voice"]],
                href=lambda r: "/inbox?" + view.link(brand=[r["label"]]))
            figures["sites_chart"] = charts.bars(
                t("top_sites"), [{"label": r["site"], "counts": {k: r[k] for k in LABELS}}
                                 for r in figures["top_sites"]],
                href=lambda r: "/inbox?" + view.link(site=[r["label"]]))
        return page(request, "overview.html", user=user, saved=saved, view=view, figures=figures, chart=chart,
                    errors=errors, timeline=timeline)

    @app.get("/inbox")
    def inbox_page(request: Request, after: str | None = None, size: int = Query(INBOX_PAGE, ge=5, le=100),
                   user: dict = Depends(viewer)):
        view = View.from_params(request.query_params)
        now = datetime.now(timezone.utc)
        saved = space.pool.submit(space.saved.list)
        errors, rows, result, newest = list(view.errors), [], None, None
        try:
            filters = view.filters(*view.window(now))
            # The page of mentions and the newest fetch time (where live updates start), side by side.
            found = space.pool.submit(search, space.client, space.alias, filters, space.brands, size=size,
                                      sort="newest", after=after)
            if not after:
                newest = mentions.newest_fetch(space.client, space.alias, filters, space.brands)
            result = found.result()
        except QuerySyntaxError as exc:
            errors.append(str(exc))
        if result:
            triage = space.triage.many([doc["doc_id"] for doc in result.hits])
            rows = [mentions.present(doc, space.matcher, triage.get(doc["doc_id"])) for doc in result.hits]
        return page(request, "inbox.html", user=user, saved=saved, view=view, rows=rows, errors=errors,
                    total=result.total if result else 0, next_cursor=result.next_cursor if result else None, size=size,
                    default_size=INBOX_PAGE,
                    paged=bool(after), polled_after=newest or now.isoformat(timespec="milliseconds"))

    @app.get("/inbox/new")
    def inbox_arrivals(request: Request, after: str, user: dict = Depends(viewer)):
        """Reviews fetched since `after` that match the inbox's filters, as rows for the page's script."""
        view = View.from_params(request.query_params)
        try:
            after_time = datetime.fromisoformat(after)
            docs = mentions.arrivals(space.client, space.alias, view.filters(*view.window(datetime.now(timezone.utc))),
                                     space.brands, after_time.isoformat())
        except (ValueError, QuerySyntaxError) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        triage = space.triage.many([doc["doc_id"] for doc in docs])
        rows = [mentions.present(doc, space.matcher, triage.get(doc["doc_id"])) for doc in docs]
        fetched = [datetime.fromisoformat(doc["fetched_at"]) for doc in docs if doc.get("fetched_at")]
        return {"rows": rows, "after": max(fetched + [after_time]).isoformat()}

    # --- one mention ---------------------------------------------------------------------------------
    def mention_or_404(request: Request, doc_id: str) -> dict:
        doc = mentions.find(space.client, space.alias, doc_id)
        if doc is None:
            raise Refused(Translator(request.state.language)("no_such_mention"), status=404)
        return doc

    @app.get("/mentions/{doc_id}")
    def mention_page(request: Request, doc_id: str, done: str = "", user: dict = Depends(viewer)):
        doc = mention_or_404(request, doc_id)
        fields = {key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                  for key, value in sorted(doc.items())
                  if key not in ("title", "body", "near_duplicate_bands", "content_hash")}
        return page(request, "mention.html", user=user, doc=doc, fields=fields, done=done,
                    row=mentions.present(doc, space.matcher),
                    body=mentions.marked(doc.get("body") or "", space.matcher, limit=None),
                    triage=space.triage.get(doc_id), history=space.audit.history(doc_id))

    @app.post("/mentions/{doc_id}/sentiment", dependencies=writes)
    def correct_sentiment(request: Request, doc_id: str, label: str = Form(...), note: str = Form("", max_length=2000),
                          user: dict = Depends(analyst)):
        """As `kuchikomi sentiment correct`: relabel now, and alert now if the new label calls for it."""
        mention_or_404(request, doc_id)
        try:
            correction, review = space.corrections.record(doc_id, label, utc_now(), user["name"], note or None)
        except CorrectionError as exc:
            raise Refused(str(exc), status=400)
        new_alerts, counts = space.dispatcher.alert_now(review) if space.dispatcher.rules else (0, {})
        space.audit.record(user["name"], "correct_sentiment", doc_id,
                           {"from": correction["model_label"], "to": label, "note": note, "alerts": new_alerts})
        return back(f"/mentions/{quote(doc_id)}", done="corrected")

    @app.post("/mentions/{doc_id}/categories", dependencies=writes)
    def correct_categories(request: Request, doc_id: str, category: list[str] = Form([]),
                           user: dict = Depends(analyst)):
        """As `kuchikomi categories correct`: the ticked categories become the review's, and alert now if a
        rule asks for one of them."""
        doc = mention_or_404(request, doc_id)
        chosen = list(dict.fromkeys(category))
        before = [c.get("name") for c in doc.get("categories") or [] if isinstance(c, dict)]
        try:
            before, review = space.corrections.record_categories(
                doc_id, [name for name in chosen if name not in before],
                [name for name in before if name not in chosen], space.category_names, utc_now(), user["name"])
        except CorrectionError as exc:
            raise Refused(str(exc), status=400)
        new_alerts, _ = space.dispatcher.alert_now(review) if space.dispatcher.rules else (0, {})
        space.audit.record(user["name"], "correct_categories", doc_id,
                           {"from": ", ".join(before), "to": ", ".join(chosen), "alerts": new_alerts})
        return back(f"/mentions/{quote(doc_id)}", done="categories_corrected")

    @app.post("/mentions/{doc_id}/triage", dependencies=writes)
    def triage_mention(request: Request, doc_id: str, status: str = Form(...), assignee: str = Form("", max_length=64),
                       tags: str = Form("", max_length=1000), user: dict = Depends(analyst)):
        mention_or_404(request, doc_id)
        try:
            changes = space.triage.update(doc_id, user["name"], status, assignee.strip(), tags.split(","))
        except ValueError as exc:
            raise Refused(str(exc), status=400)
        if changes:
            space.audit.record(user["name"], "triage", doc_id, changes)
        return back(f"/mentions/{quote(doc_id)}", done="saved")

    @app.post("/mentions/{doc_id}/notes", dependencies=writes)
    def add_note(request: Request, doc_id: str, text: str = Form(..., min_length=1, max_length=5000),
                 user: dict = Depends(analyst)):
        mention_or_404(request, doc_id)
        space.triage.add_note(doc_id, user["name"], text)
        space.audit.record(user["name"], "note", doc_id, {"text": text})
        return back(f"/mentions/{quote(doc_id)}", done="noted")

    # --- alerts ----------------------------------------------------------------------------------------
    def alerts_view(request: Request, user: dict, done: str = "", tested: dict | None = None) -> Response:
        state = space.dispatcher.state
        alerts_config = space.monitor.alerts
        return page(request, "alerts.html", user=user, recent=state.list(limit=50),
                    dead=state.list([FAILED, DEAD], limit=50), counts=state.counts(), done=done,
                    rules=alerts_config.get("rules", []), tested=tested,
                    channels={name: channel["type"] for name, channel in alerts_config.get("channels", {}).items()})

    @app.get("/alerts")
    def alerts_page(request: Request, done: str = "", user: dict = Depends(viewer)):
        return alerts_view(request, user, done)

    def alert_or_404(request: Request, alert_id: str) -> dict:
        record = space.dispatcher.state.get(alert_id)
        if record is None:
            raise Refused(Translator(request.state.language)("no_such_alert"), status=404)
        return record

    @app.post("/alerts/{alert_id}/acknowledge", dependencies=writes)
    def acknowledge(request: Request, alert_id: str, user: dict = Depends(analyst)):
        alert_or_404(request, alert_id)
        space.dispatcher.state.acknowledge(alert_id, user["name"], utc_now())
        space.audit.record(user["name"], "acknowledge_alert", alert_id)
        return back("/alerts", done="acknowledged")

    @app.post("/alerts/{alert_id}/retry", dependencies=writes)
    def retry(request: Request, alert_id: str, user: dict = Depends(analyst)):
        alert_or_404(request, alert_id)
        space.dispatcher.state.requeue([alert_id], utc_now())
        counts = space.dispatcher.deliver_due()
        space.audit.record(user["name"], "retry_alert", alert_id, counts)
        return back("/alerts", done="retried")

    @app.post("/alerts/rules/{rule}/test", dependencies=writes)
    def send_test(request: Request, rule: str, user: dict = Depends(analyst)):
        if rule not in space.dispatcher.rules:
            raise Refused(Translator(request.state.language)("no_such_rule"), status=404)
        results = space.dispatcher.send_test(rule)
        space.audit.record(user["name"], "test_alert_rule", f"rule:{rule}", results)
        return alerts_view(request, user, tested={"rule": rule, "results": results})

    # --- reports, exports and saved searches ---------------------------------------------------------
    @app.get("/reports")
    def reports_page(request: Request, report: str = "mentions", user: dict = Depends(viewer)):
        view = View.from_params(request.query_params)
        if report not in REPORTS:
            report = "mentions"
        now = datetime.now(timezone.utc)
        errors, result, chart = list(view.errors), None, None
        options = {"interval": view.interval(now)} if report in ("mentions", "rating_trend") else {}
        try:
            result = REPORTS[report](space.client, space.alias, view.filters(*view.window(now)), space.brands,
                                     **options)
            chart = report_chart(result, view, Translator(request.state.language), options.get("interval"))
        except QuerySyntaxError as exc:
            errors.append(str(exc))
        return page(request, "reports.html", user=user, view=view, report=report, result=result, chart=chart,
                    errors=errors, reports=list(REPORTS))

    @app.get("/export")
    def export(request: Request, format: str = "csv", user: dict = Depends(viewer)):
        view = View.from_params(request.query_params)
        writers = {"csv": ("text/csv; charset=utf-8", write_csv), "jsonl": ("application/x-ndjson", write_jsonl),
                   "parquet": ("application/vnd.apache.parquet", None)}
        if format not in writers:
            raise Refused(f"format {format!r}: use csv, jsonl or parquet", status=400)
        filters = view.filters(*view.window(datetime.now(timezone.utc)))
        try:
            docs = iter_documents(space.client, space.alias, filters, space.brands)
            handle, path = tempfile.mkstemp(prefix="kuchikomi-export-", suffix=f".{format}")
            os.close(handle)
            if format == "parquet":
                write_parquet(docs, path)
            else:
                with open(path, "w", encoding="utf-8", newline="") as out:
                    writers[format][1](docs, out)
        except QuerySyntaxError as exc:
            raise Refused(str(exc), status=400)
        name = f"kuchikomi-{datetime.now(timezone.utc):%Y%m%d-%H%M}.{format}"
        return FileResponse(path, media_type=writers[format][0], filename=name,
                            background=BackgroundTask(os.unlink, path))

    @app.post("/saved-searches", dependencies=writes)
    def save_search(request: Request, name: str = Form(..., min_length=1, max_length=100),
                    query: str = Form("", max_length=4000), user: dict = Depends(analyst)):
        query = query.lstrip("?")
        search_id = space.saved.add(name.strip(), query, user["name"])
        space.audit.record(user["name"], "save_search", f"search:{search_id}", {"name": name, "query": query})
        return RedirectResponse(f"/inbox?{query}", status_code=303)

    @app.post("/saved-searches/{search_id}/delete", dependencies=writes)
    def delete_search(request: Request, search_id: str, user: dict = Depends(analyst)):
        removed = space.saved.remove(search_id)
        if removed:
            space.audit.record(user["name"], "delete_search", f"search:{search_id}", {"name": removed["name"]})
        return back("/inbox")

    # --- sources ----------------------------------------------------------------------------------------
    @app.get("/sources")
    def sources_page(request: Request, user: dict = Depends(viewer)):
        crawls: dict[str, list[dict]] = {source["name"]: [] for source in space.monitor.sources}
        if space.client.indices.exists(index=space.crawls_index):
            reply = space.client.search(index=space.crawls_index, size=500,
                                        body={"sort": [{"finished_at": "desc"}]})
            for hit in reply["hits"]["hits"]:
                record = hit["_source"]
                if len(crawls.setdefault(record["source"], [])) < 5:
                    crawls[record["source"]].append(record)
        return page(request, "sources.html", user=user, crawls=crawls,
                    configured={source["name"]: source for source in space.monitor.sources})

    # --- users (admins) ---------------------------------------------------------------------------------
    @app.get("/users")
    def users_page(request: Request, done: str = "", user: dict = Depends(admin)):
        return page(request, "users.html", user=user, users=space.users.list(), done=done,
                    history=[r for r in space.audit.history(limit=200) if r["target"].startswith("user:")][:30])

    @app.post("/users", dependencies=writes)
    def add_user(request: Request, name: str = Form(...), role: str = Form(...), password: str = Form(...),
                 user: dict = Depends(admin)):
        try:
            space.users.add(name.strip(), role, password)
        except UserError as exc:
            raise Refused(str(exc), status=400)
        space.audit.record(user["name"], "add_user", f"user:{name.strip()}", {"role": role})
        return back("/users", done="added")

    @app.post("/users/{name}/remove", dependencies=writes)
    def remove_user(request: Request, name: str, user: dict = Depends(admin)):
        if name == user["name"]:
            raise Refused(Translator(request.state.language)("cannot_remove_self"), status=400)
        try:
            space.users.remove(name)
        except UserError as exc:
            raise Refused(str(exc), status=404)
        space.audit.record(user["name"], "remove_user", f"user:{name}")
        return back("/users", done="removed")

    @app.post("/users/{name}/password", dependencies=writes)
    def reset_password(request: Request, name: str, password: str = Form(...), user: dict = Depends(admin)):
        try:
            space.users.set_password(name, password)
        except UserError as exc:
            raise Refused(str(exc), status=400)
        space.audit.record(user["name"], "set_password", f"user:{name}")
        return back("/users", done="password")

    app.state.workspace = space
    app.state.started = time.time()
    return app


def local_path(target: str) -> str:
    """A redirect target inside this site (never another host: //evil.example or https://...)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
