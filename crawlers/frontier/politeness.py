"""Politeness that holds for all workers on a Redis frontier together, not per process.

A request goes to its host only when, in one Lua script on Redis's clock (TIME, so machines' clocks do not
matter), the host's last request is at least its pace ago, no Retry-After hold is on, and one of the host's
concurrency tokens is free; it then takes the token and becomes the host's last request. Otherwise the script
answers how long to wait, and the request waits that long (asyncio, the reactor goes on) and asks again: the
check is made when the request is about to go, so a worker that wakes late pushes the next one back instead
of crowding it. The pace is the largest current delay any worker has for the host (DOWNLOAD_DELAY, or
AutoThrottle's delay for the host), so AutoThrottle slowing down in one worker slows down all of them. A 429/503
with Retry-After seen by one worker holds the host for all. Redis not answering: the frontier's retries with
backoff, logged.
"""
from __future__ import annotations

import asyncio
import contextlib
import math
import uuid

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from crawlers.frontier.redis_frontier import DEFAULT_LEASE, connect
from crawlers.middlewares.retry_after import HONOURED, retry_after_seconds

TOKEN_KEY = "kuchikomi_host_token"  # request meta: (host, token) while the request holds a concurrency token
PACE_TTL_MS = 60_000  # a worker's pace for a host counts this long after its last request there
POLL = 0.05  # seconds between tries for a host whose concurrency other workers use up

# Redis's clock in milliseconds.
NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""
# KEYS: the host's last request, paces (hash worker -> "delay expiry"), tokens (zset token -> expiry), hold.
# ARGV: worker, its delay (ms), concurrency, token, token lifetime (ms), pace lifetime (ms).
# Returns 0 if the request may go now (it holds the token), -1 if the host's concurrency is used up, else the
# milliseconds until the pace or a hold allows the next request.
CLAIM = NOW + """
local pace_ttl = tonumber(ARGV[6])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ' ' .. (now + pace_ttl))
redis.call('PEXPIRE', KEYS[2], pace_ttl)
local pace = 0
local paces = redis.call('HGETALL', KEYS[2])
for i = 1, #paces, 2 do
  local delay, expiry = string.match(paces[i + 1], '(%d+) (%d+)')
  if tonumber(expiry) < now then redis.call('HDEL', KEYS[2], paces[i])
  else pace = math.max(pace, tonumber(delay)) end
end
local ready = math.max(tonumber(redis.call('GET', KEYS[1]) or -pace) + pace,
                       tonumber(redis.call('GET', KEYS[4]) or 0))
if ready > now then return ready - now end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[3]) then return -1 end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('SET', KEYS[1], now, 'PX', pace_ttl)
return 0
"""
# Hold the host (KEYS[1]) for ARGV[1] ms from now, unless it is held longer already.
HOLD = NOW + """
local ends = now + tonumber(ARGV[1])
if ends > tonumber(redis.call('GET', KEYS[1]) or 0) then redis.call('SET', KEYS[1], ends, 'PX', ARGV[1]) end
"""
# The tokens ARGV[2..] in KEYS[1] live ARGV[1] ms more (those still there).
RENEW = NOW + """
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
"""


def host_keys(host: str) -> dict[str, str]:
    """The Redis keys of one host's shared politeness (every source and monitor on the frontier shares them)."""
    return {name: f"kuchikomi:host:{host}:{name}" for name in ("last", "paces", "tokens", "hold")}


class HostSlots:
    """The Redis side, for one worker: hosts' last requests, paces, concurrency tokens and Retry-After holds."""

    def __init__(self, server, concurrency: int, token_ttl: float):
        self.server = server
        self.concurrency = concurrency
        self.token_ttl_ms = math.ceil(token_ttl * 1000)
        self.worker = uuid.uuid4().hex  # its pace's name in a host's paces
        self.claim_script = server.register_script(CLAIM)
        self.hold_script = server.register_script(HOLD)
        self.renew_script = server.register_script(RENEW)

    def claim(self, host: str, token: str, delay: float) -> float | None:
        """0 if a request may go to the host now (it took `token`); None if the host's concurrency is used up;
        else the seconds until the pace or a Retry-After hold allows the next request."""
        keys = host_keys(host)
        waited = self.claim_script(keys=[keys["last"], keys["paces"], keys["tokens"], keys["hold"]],
                                   args=[self.worker, math.ceil(delay * 1000), self.concurrency, token,
                                         self.token_ttl_ms, PACE_TTL_MS])
        return None if waited < 0 else waited / 1000

    def hold(self, host: str, seconds: float) -> None:
        self.hold_script(keys=[host_keys(host)["hold"]], args=[math.ceil(seconds * 1000)])

    def release(self, host: str, token: str) -> None:
        self.server.zrem(host_keys(host)["tokens"], token)

    def renew(self, host: str, tokens: list[str]) -> None:
        self.renew_script(keys=[host_keys(host)["tokens"]], args=[self.token_ttl_ms, *tokens])


class SharedPoliteness:
    """Downloader middleware (next to the download, 950): each request waits until its host allows it."""

    def __init__(self, crawler, slots: HostSlots):
        self.crawler = crawler
        self.slots = slots
        settings = crawler.settings
        self.first_delay = settings.getfloat("DOWNLOAD_DELAY")
        if settings.getbool("AUTOTHROTTLE_ENABLED"):
            self.first_delay = max(self.first_delay, settings.getfloat("AUTOTHROTTLE_START_DELAY"))
        self.retry_after_max = settings.getfloat("KUCHIKOMI_RETRY_AFTER_MAX", 600)
        self.tokens: dict[str, set[str]] = {}  # host -> the tokens this worker holds there
        self.turns: dict[str, asyncio.Lock] = {}  # host -> one request at a time asks Redis for a token
        self.released: dict[str, asyncio.Event] = {}  # host -> set when this worker gives a token back
        self.upkeep = task.LoopingCall(self.renew)

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        if not settings.get("KUCHIKOMI_FRONTIER"):
            raise NotConfigured  # the usual single-process crawl: no message, so Scrapy logs no warning
        lease = settings.getfloat("KUCHIKOMI_FRONTIER_LEASE", DEFAULT_LEASE)
        slots = HostSlots(connect(settings["KUCHIKOMI_FRONTIER"]), settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"),
                          token_ttl=lease)
        middleware = cls(crawler, slots)
        # Tokens of a worker that died free up after one lease, as its pages do; live workers renew theirs.
        middleware.upkeep.start(max(lease / 3, 0.5), now=False)
        crawler.signals.connect(middleware.closed, signal=signals.spider_closed)
        return middleware

    def pace(self, host: str) -> float:
        """This worker's delay for the host: AutoThrottle's (or a Retry-After's) current one, else the first."""
        slot = self.crawler.engine.downloader.slots.get(host)
        return slot.delay if slot is not None else self.first_delay

    async def process_request(self, request):
        host = self.crawler.engine.downloader.get_slot_key(request)
        token = uuid.uuid4().hex
        released = self.released.setdefault(host, asyncio.Event())
        async with self.turns.setdefault(host, asyncio.Lock()):  # this worker's requests there: one asks at a time
            while (wait := self.slots.claim(host, token, self.pace(host))) != 0:
                if wait is None:  # the host's tokens are all taken: until this worker gives one back, or POLL
                    released.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(released.wait(), POLL)
                else:
                    await asyncio.sleep(wait)
        self.tokens.setdefault(host, set()).add(token)
        request.meta[TOKEN_KEY] = (host, token)
        return None

    def process_response(self, request, response):
        self.give_back(request)
        if response.status in HONOURED and not request.meta.get("dont_retry"):
            wait = retry_after_seconds(response.headers.get("Retry-After", b"").decode("latin-1"))
            if wait is not None and wait <= self.retry_after_max:
                self.slots.hold(self.crawler.engine.downloader.get_slot_key(request), wait)
        return response

    def process_exception(self, request, exception):
        self.give_back(request)

    def give_back(self, request) -> None:
        held = request.meta.pop(TOKEN_KEY, None)
        if held is None:
            return  # the request never reached this middleware (a cached answer, robots.txt refused it)
        host, token = held
        self.tokens.get(host, set()).discard(token)
        self.slots.release(host, token)
        self.released[host].set()

    def renew(self) -> None:
        for host, tokens in list(self.tokens.items()):
            if tokens:
                self.slots.renew(host, list(tokens))
            else:
                del self.tokens[host]

    def closed(self, spider) -> None:
        if self.upkeep.running:
            self.upkeep.stop()
