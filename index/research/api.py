"""The read-only JSON API: search, reports and (for keys allowed it) raw Elasticsearch DSL.

Every request needs an API key from the monitor config (header X-API-Key, or Authorization: Bearer),
and each key has its own rate limit. The OpenAPI spec is served at /openapi.json, docs at /docs.
"""
from __future__ import annotations

import hmac
import math
import threading
import time
from typing import Literal

from elasticsearch.exceptions import ConnectionError as ESConnectionError, RequestError, TransportError
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from index.research.query import BrandNames, QuerySyntaxError
from index.research.report import INTERVALS, REPORTS
from index.research.search import MAX_PAGE, SORTS, Filters, search
from index.storage.client import connect, reviews_alias

DEFAULT_REQUESTS_PER_MINUTE = 60
# Top-level search keys a raw-DSL caller may send; nothing that writes or runs elsewhere.
DSL_KEYS = {"query", "aggs", "aggregations", "size", "from", "sort", "_source", "search_after",
            "track_total_hits", "highlight", "post_filter"}


class RateLimiter:
    """A token bucket per key name: `rate` requests a minute, bursts up to the same number."""

    def __init__(self):
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def wait_needed(self, name: str, rate: int) -> float:
        """0 when the request may go ahead (and is counted), else the seconds until it may."""
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(name, (float(rate), now))
            tokens = min(float(rate), tokens + (now - last) * rate / 60)
            if tokens >= 1:
                self.buckets[name] = (tokens - 1, now)
                return 0.0
            self.buckets[name] = (tokens, now)
            return (1 - tokens) * 60 / rate


class DSLRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    query: dict = Field(default_factory=lambda: {"match_all": {}})
    size: int = Field(10, ge=0, le=MAX_PAGE)


def create_app(monitor) -> FastAPI:
    api_config = monitor.api
    if not api_config.get("keys"):
        raise ValueError(f"{monitor.path}: no api.keys configured; the API serves nobody without a key")
    client = connect(monitor.elasticsearch, check=False)
    alias = reviews_alias(monitor.elasticsearch)
    brands = BrandNames(monitor.brands)
    limiter = RateLimiter()
    default_rate = api_config.get("requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE)

    app = FastAPI(title="kuchikomi", version="1",
                  description="Read-only access to the reviews kuchikomi has collected: search, reports, "
                              "and raw Elasticsearch DSL for keys allowed it.")
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
    bearer = HTTPBearer(auto_error=False)

    def caller(key: str | None = Depends(key_header),
               token: HTTPAuthorizationCredentials | None = Depends(bearer)) -> dict:
        given = key or (token.credentials if token else None)
        if not given:
            raise HTTPException(401, "an API key is required (header X-API-Key)",
                                headers={"WWW-Authenticate": "Bearer"})
        # Compare against every key so the time taken says nothing about which was close.
        matches = [entry for entry in api_config["keys"]
                   if hmac.compare_digest(entry["key"].encode(), given.encode())]
        if not matches:
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
                min_rating: float | None = Query(None, ge=1, le=5), max_rating: float | None = Query(None, ge=1, le=5),
                since: str | None = Query(None, description="2024-05-01, 2024-05, ISO time, or 30d/12h/8w/6m/1y"),
                until: str | None = Query(None)) -> Filters:
        return Filters(q, brand, list(sentiment), language, site, min_rating, max_rating, since, until)

    @app.exception_handler(QuerySyntaxError)
    async def bad_query(request: Request, exc: QuerySyntaxError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in error['loc'][1:]) or 'request'}: {error['msg']}"
                             for error in exc.errors())
        return JSONResponse({"detail": problems}, status_code=400)

    @app.exception_handler(ESConnectionError)
    async def elasticsearch_down(request: Request, exc: ESConnectionError):
        return JSONResponse({"detail": "Elasticsearch is not reachable; try again later"}, status_code=503)

    @app.exception_handler(RequestError)
    async def elasticsearch_rejected(request: Request, exc: RequestError):
        return JSONResponse({"detail": f"Elasticsearch rejected the request: {_reason(exc)}"}, status_code=400)

    @app.exception_handler(TransportError)
    async def elasticsearch_failed(request: Request, exc: TransportError):
        status = exc.status_code if isinstance(exc.status_code, int) and 400 <= exc.status_code < 600 else 502
        return JSONResponse({"detail": f"Elasticsearch: {_reason(exc)}"}, status_code=status)

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
        """mentions, share_of_voice, top_sites, rating_trend or significant_terms, as rows."""
        options = {"interval": interval} if name in ("mentions", "rating_trend") else {}
        result = REPORTS[name](client, alias, found, brands, top=top, **options)
        return {"report": result.name, "title": result.title, "columns": result.columns, "rows": result.rows}

    @app.post("/v1/dsl")
    def raw_dsl(body: DSLRequest, key: dict = Depends(caller)) -> dict:
        """A raw Elasticsearch search body against the reviews, for keys with raw_dsl enabled."""
        if not key.get("raw_dsl"):
            raise HTTPException(403, f"key {key['name']!r} may not send raw DSL (set raw_dsl: true for it)")
        request = body.model_dump()
        unknown = sorted(set(request) - DSL_KEYS)
        if unknown:
            raise HTTPException(400, f"not allowed in a search body here: {', '.join(unknown)}")
        return client.search(index=alias, body=request)

    return app


def _reason(exc: TransportError) -> str:
    info = exc.info if isinstance(exc.info, dict) else {}
    error = info.get("error")
    if isinstance(error, dict):
        cause = (error.get("root_cause") or [error])[0]
        return f"{cause.get('type')}: {cause.get('reason')}"
    return str(exc.error)
