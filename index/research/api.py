"""The read-only JSON API: search, reports and (for keys allowed it) raw Elasticsearch DSL.

Every request needs an API key from the monitor config (header X-API-Key, or Authorization: Bearer),
and each key has its own rate limit; wrong keys are rate-limited per client address, so keys cannot be
guessed at speed. The OpenAPI spec is served at /openapi.json, docs at /docs. Serve it with
`server_config()`, whose protocol answers oversize request heads with 414/431 instead of a reset.
"""
from __future__ import annotations

import hmac
import json
import logging
import math
import sys
import threading
import time
from http import HTTPStatus
from typing import Any, Literal

import h11
import uvicorn
from elasticsearch.exceptions import ConnectionError as ESConnectionError, ConnectionTimeout, NotFoundError, \
    TransportError
from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from uvicorn.protocols.http.h11_impl import H11Protocol

from index.research.dsl import DSLRejected, validate_dsl
from index.research.query import BrandNames, QuerySyntaxError
from index.research.report import INTERVAL_REPORTS, INTERVALS, REPORTS
from index.research.search import MAX_PAGE, SORTS, Filters, search
from index.storage.client import connect, reviews_alias

logger = logging.getLogger(__name__)

DEFAULT_REQUESTS_PER_MINUTE = 60
WRONG_KEYS_PER_MINUTE = 10            # per client address: a typo is fine, guessing is not
MAX_TRACKED_ADDRESSES = 10_000
MAX_URL_BYTES = 8192                  # 414 beyond
MAX_HEADER_BYTES = 8192               # one header line; 431 beyond
MAX_KEY_BYTES = 1024                  # an X-API-Key or Authorization header's value
KEY_HEADERS = (b"x-api-key", b"authorization")
MAX_HEADERS_BYTES = 16_384            # all headers together
MAX_REQUEST_HEAD_BYTES = 65_536       # what h11 buffers of an unfinished request head
MAX_BODY_BYTES = 65_536               # a DSL body; 413 beyond
MAX_DRAINED_BYTES = 4 * 1024 * 1024   # of a refused request read and dropped, so that the answer arrives
DRAIN_SECONDS = 5
DSL_TIMEOUT_SECONDS = 10              # the node stops a raw DSL search after this long
DSL_SHARD_REQUESTS = 3                # shards one raw DSL search runs on at once
DSL_EXAMPLE = {"query": {"term": {"language": "ja"}}, "size": 0,
               "aggs": {"sites": {"terms": {"field": "site", "size": 20}}}}


class RateLimiter:
    """A token bucket per name (a key's, or a client address): `rate` a minute, bursts up to the same number."""

    def __init__(self):
        self.buckets: dict[str, tuple[float, float, int]] = {}
        self.lock = threading.Lock()

    def wait_needed(self, name: str, rate: int, spend: bool = True) -> float:
        """0 when the request may go ahead (and, with spend, is counted), else the seconds until it may."""
        now = time.monotonic()
        with self.lock:
            tokens, last, _ = self.buckets.get(name, (float(rate), now, rate))
            tokens = min(float(rate), tokens + (now - last) * rate / 60)
            if tokens >= 1:
                if spend:
                    self.buckets[name] = (tokens - 1, now, rate)
                    self._forget_full(now)
                return 0.0
            self.buckets[name] = (tokens, now, rate)
            return (1 - tokens) * 60 / rate

    def _forget_full(self, now: float) -> None:
        # Client addresses come and go: a bucket that has filled up again says nothing worth keeping.
        if len(self.buckets) > MAX_TRACKED_ADDRESSES:
            self.buckets = {name: (tokens, last, rate) for name, (tokens, last, rate) in self.buckets.items()
                            if tokens + (now - last) * rate / 60 < rate}


def _too_large(scope) -> tuple[int, str] | None:
    """414 or 431 with its message when the URL or a header is over its limit."""
    if len(scope["raw_path"]) + len(scope["query_string"]) + 1 > MAX_URL_BYTES:
        return 414, f"the URL is over {MAX_URL_BYTES} bytes"
    total = 0
    for name, value in scope["headers"]:
        if name in KEY_HEADERS and len(value) > MAX_KEY_BYTES:
            return 431, f"the {name.decode('latin-1')} header is over {MAX_KEY_BYTES} bytes"
        if len(name) + len(value) > MAX_HEADER_BYTES:
            return 431, f"the {name.decode('latin-1')} header is over {MAX_HEADER_BYTES} bytes"
        total += len(name) + len(value) + 4
    if total > MAX_HEADERS_BYTES:
        return 431, f"the request headers are over {MAX_HEADERS_BYTES} bytes together"
    return None


class RequestLimits:
    """ASGI middleware: 414, 431 or 413 for a URL, a header or a body over its limit, before any route reads
    it. A body over the limit is read on (up to MAX_DRAINED_BYTES) and dropped, so that the client, still
    sending, receives the answer rather than a reset connection."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = _too_large(scope)
        if refusal is None and scope["method"] in ("POST", "PUT", "PATCH"):
            chunks, size, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                size += len(message.get("body", b""))
                more = message.get("more_body", False)
                if size <= MAX_BODY_BYTES:
                    chunks.append(message.get("body", b""))
                elif size > MAX_BODY_BYTES + MAX_DRAINED_BYTES:
                    break
            if size > MAX_BODY_BYTES:
                refusal = 413, f"the request body is over {MAX_BODY_BYTES} bytes"
            else:
                receive = _replay(b"".join(chunks), receive)
        if refusal is not None:
            status, message = refusal
            response = JSONResponse({"detail": message}, status_code=status, headers={"Connection": "close"})
            return await response(scope, receive, send)
        await self.app(scope, receive, send)


def _replay(body: bytes, receive):
    sent = False

    async def replayed():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return replayed


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a request head over MAX_REQUEST_HEAD_BYTES with 414 (a request line
    that long) or 431 (headers). uvicorn answers 400 and closes at once, which a client still sending sees
    as a reset connection; here the rest of the request is read and dropped before closing."""

    draining = False
    dropped = 0

    def data_received(self, data: bytes) -> None:
        if not self.draining:
            return super().data_received(data)
        self.dropped += len(data)
        if self.dropped > MAX_DRAINED_BYTES:
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this while handling h11's RemoteProtocolError; h11 hints 431 for an oversize head.
        error = sys.exc_info()[1]
        if not isinstance(error, h11.RemoteProtocolError) or error.error_status_hint != 431:
            return super().send_400_response(msg)
        head = self.conn.trailing_data[0]
        if head.find(b"\r\n", 0, MAX_URL_BYTES) == -1:
            status, detail = 414, f"the URL is over {MAX_URL_BYTES} bytes"
        else:
            status, detail = 431, f"the request headers are over {MAX_HEADERS_BYTES} bytes together"
        self.logger.warning("refused a request head over %d bytes from %s with %d", MAX_REQUEST_HEAD_BYTES,
                            self.client[0] if self.client else "?", status)
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase.encode()),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.draining = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(DRAIN_SECONDS, self.transport.close)


def server_config(app: FastAPI, host: str, port: int, log_level: str = "info") -> uvicorn.Config:
    """uvicorn's settings for the API: its request head limit and the protocol that answers past it."""
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, http=LimitedH11Protocol,
                          h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)


def create_app(monitor) -> FastAPI:
    api_config = monitor.api
    if not api_config.get("keys"):
        raise ValueError(f"{monitor.path}: no api.keys configured; the API serves nobody without a key")
    longest = MAX_KEY_BYTES - len("Bearer ")
    for index, entry in enumerate(api_config["keys"]):
        if len(entry["key"].encode()) > longest:
            raise ValueError(f"{monitor.path}: api.keys[{index}].key is longer than the {longest} bytes the API "
                             f"accepts in a header: use a shorter key")
    client = connect(monitor.elasticsearch, check=False)
    # Its own client: a raw DSL search that times out is not sent again (the shared one retries timeouts).
    dsl_client = connect(monitor.elasticsearch, check=False)
    dsl_client.transport.retry_on_timeout = False
    alias = reviews_alias(monitor.elasticsearch)
    brands = BrandNames(monitor.brands)
    limiter = RateLimiter()
    wrong_keys = RateLimiter()
    default_rate = api_config.get("requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE)

    app = FastAPI(title="kuchikomi", version="1",
                  description="Read-only access to the reviews kuchikomi has collected: search, reports, "
                              "and raw Elasticsearch DSL for keys allowed it.")
    app.add_middleware(RequestLimits)
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
    bearer = HTTPBearer(auto_error=False)

    def caller(request: Request, key: str | None = Depends(key_header),
               token: HTTPAuthorizationCredentials | None = Depends(bearer)) -> dict:
        address = request.client.host if request.client else "unknown"
        # Over its budget of wrong keys an address gets 429 even for a right one: else 200 would tell a
        # guesser which guess was right at full speed.
        wait = wrong_keys.wait_needed(address, WRONG_KEYS_PER_MINUTE, spend=False)
        if wait:
            raise HTTPException(429, f"too many wrong API keys from {address}; retry in {math.ceil(wait)} s",
                                headers={"Retry-After": str(math.ceil(wait))})
        given = key or (token.credentials if token else None)
        if not given:
            raise HTTPException(401, "an API key is required (header X-API-Key)",
                                headers={"WWW-Authenticate": "Bearer"})
        # Compare against every key so the time taken says nothing about which was close.
        matches = [entry for entry in api_config["keys"]
                   if hmac.compare_digest(entry["key"].encode(), given.encode())]
        if not matches:
            wrong_keys.wait_needed(address, WRONG_KEYS_PER_MINUTE)
            logger.warning("a wrong API key from %s", address)
            raise HTTPException(401, "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
        entry = matches[0]
        wait = limiter.wait_needed(entry["name"], entry.get("requests_per_minute", default_rate))
        if wait:
            raise HTTPException(429, f"rate limit of key {entry['name']!r} reached; retry in {math.ceil(wait)} s",
                                headers={"Retry-After": str(math.ceil(wait))})
        return entry

    def filters(q: str = Query("", max_length=2000, description='words, "phrases", OR, -exclusions, field:value'),
                brand: list[str] = Query([]), sentiment: list[Literal["negative", "neutral", "positive"]] = Query([]),
                language: list[str] = Query([]), site: list[str] = Query([]),
                category: list[str] = Query([], description="complaint, purchase_intent, ... (repeatable)"),
                min_rating: float | None = Query(None, ge=1, le=5), max_rating: float | None = Query(None, ge=1, le=5),
                since: str | None = Query(None, max_length=100,
                                          description="2024-05-01, 2024-05, ISO time, or 30d/12h/8w/6m/1y"),
                until: str | None = Query(None, max_length=100)) -> Filters:
        return Filters(q, brand, list(sentiment), language, site, min_rating, max_rating, since, until,
                       categories=category)

    @app.exception_handler(QuerySyntaxError)
    async def bad_query(request: Request, exc: QuerySyntaxError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(DSLRejected)
    async def bad_dsl(request: Request, exc: DSLRejected):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in error['loc'][1:]) or 'request'}: {error['msg']}"
                             for error in exc.errors())
        return JSONResponse({"detail": problems}, status_code=400)

    @app.exception_handler(TransportError)
    async def elasticsearch_failed(request: Request, exc: TransportError):
        # Elasticsearch's own messages (heap figures, index names, shard details) go to the log only.
        status, detail = _answer_for(exc)
        logger.warning("Elasticsearch failed %s %s (answered %d): %s", request.method, request.url.path, status,
                       _log_text(exc))
        headers = {"Retry-After": "30"} if status == 503 else None
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    @app.get("/v1/health")
    def health() -> dict:
        """Liveness, without a key: is Elasticsearch reachable."""
        try:
            client.cluster.health(request_timeout=5)
        except (ESConnectionError, TransportError):
            return JSONResponse({"status": "elasticsearch unavailable"}, status_code=503)
        return {"status": "ok"}

    @app.get("/v1/search")
    def search_reviews(found: Filters = Depends(filters), size: int = Query(10, ge=1, le=MAX_PAGE),
                       sort: Literal[tuple(SORTS)] = "relevance", after: str | None = Query(None, max_length=2000),
                       key: dict = Depends(caller)) -> dict:
        """Matching reviews; pass `next` back as `after` for the following page."""
        page = search(client, alias, found, brands, size, sort, after)
        return {"total": page.total, "hits": page.hits, "next": page.next_cursor}

    @app.get("/v1/reports/{name}")
    def report(name: Literal[tuple(REPORTS)], found: Filters = Depends(filters),
               interval: Literal[INTERVALS] = "week", top: int = Query(10, ge=1, le=100),
               key: dict = Depends(caller)) -> dict:
        """mentions, share_of_voice, top_sites, rating_trend, significant_terms, categories or aspects, as rows."""
        options = {"interval": interval} if name in INTERVAL_REPORTS else {}
        result = REPORTS[name](client, alias, found, brands, top=top, **options)
        return {"report": result.name, "title": result.title, "columns": result.columns, "rows": result.rows}

    @app.post("/v1/dsl")
    def raw_dsl(body: dict[str, Any] = Body(..., examples=[DSL_EXAMPLE]), key: dict = Depends(caller)) -> dict:
        """A raw Elasticsearch search body against the reviews, for keys with raw_dsl enabled.

        Only listed query and aggregation types and parameters are taken (no scripts, nothing that reads
        another index); sizes, buckets and nesting are bounded, and the node stops the search after 10 s.
        A refused body is a 400 naming the offending key's path."""
        if not key.get("raw_dsl"):
            raise HTTPException(403, f"key {key['name']!r} may not send raw DSL (set raw_dsl: true for it)")
        return dsl_client.search(index=alias, body=validate_dsl(body), timeout=f"{DSL_TIMEOUT_SECONDS}s",
                                 allow_partial_search_results=False,
                                 max_concurrent_shard_requests=DSL_SHARD_REQUESTS,
                                 request_timeout=DSL_TIMEOUT_SECONDS + 20)

    return app


def _errors(exc: TransportError) -> list[dict]:
    """Every error object in Elasticsearch's reply: root causes, causes, shard failures."""
    found = []
    pending = [exc.info.get("error")] if isinstance(exc.info, dict) else []
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if "type" in item:
                found.append(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def _answer_for(exc: TransportError) -> tuple[int, str]:
    """The status and a message for the API client that tell what to do, not Elasticsearch's internals."""
    if isinstance(exc, ConnectionTimeout):
        return 504, "Elasticsearch did not answer in time; try again later or narrow the request"
    if isinstance(exc, ESConnectionError):
        return 503, "Elasticsearch is not reachable; try again later"
    errors = _errors(exc)
    types = {error["type"] for error in errors}
    if "too_many_buckets_exception" in types:
        return 400, "the aggregations make more buckets than Elasticsearch allows: use smaller sizes or wider intervals"
    if any(error.get("reason") == "Time exceeded" for error in errors):
        return 504, (f"the search ran longer than {DSL_TIMEOUT_SECONDS} s and was stopped: narrow the query or "
                     f"the aggregations")
    if exc.status_code == 429 or types & {"circuit_breaking_exception", "es_rejected_execution_exception"}:
        return 503, "Elasticsearch is busy; try again later"
    if isinstance(exc, NotFoundError) or "index_not_found_exception" in types:
        return 404, "there are no reviews yet: run `kuchikomi crawl` first"
    if exc.status_code == 400:
        return 400, f"Elasticsearch rejected the request ({_root_type(exc)}): check the field names and their types"
    if types & {"aggregation_execution_exception", "aggregation_initialization_exception"}:
        # Elasticsearch answers 500 to aggregations that name a path (order, buckets_path) that is not there.
        return 400, ("Elasticsearch could not run the aggregations (aggregation_execution_exception): check the "
                     "paths they name in order and buckets_path")
    return 502, "Elasticsearch failed on this request; the server log has the details"


def _root_type(exc: TransportError) -> str:
    error = exc.info.get("error") if isinstance(exc.info, dict) else None
    if not isinstance(error, dict):
        return "a bad request"
    cause = (error.get("root_cause") or [error])[0]
    kind = cause.get("type") if isinstance(cause, dict) else None
    return kind if isinstance(kind, str) and kind.isidentifier() else "a bad request"


def _log_text(exc: TransportError) -> str:
    return (json.dumps(exc.info, ensure_ascii=False) if isinstance(exc.info, dict) else str(exc))[:2000]
