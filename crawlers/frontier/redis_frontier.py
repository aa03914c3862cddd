"""scrapy-redis's scheduler and duplicate filter, extended so that no page is lost when a worker dies.

scrapy-redis deletes a request from Redis when a worker takes it. Here the taking is one Lua script that
moves the request from the queue into a lease (a sorted set: request -> expiry). The worker renews its
leases while their pages are in the pipelines; LeaseMiddleware releases a lease once the page and all of its
items have left them. Any worker puts expired leases (their worker died) back on the queue.
Fingerprints in the seen set expire after the source's `every`, so a page is fetched again when it is due.
"""
from __future__ import annotations

import logging
import time

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler
from twisted.internet import task

from crawlers.middlewares.job_journal import JOB_KEY

logger = logging.getLogger(__name__)
# Request meta: the lease id, the fingerprint of the page first asked for, kept through redirects and retries;
# the job journal's key, so its bookkeeping (off with a frontier) finds it.
LEASE_KEY = JOB_KEY
DEFAULT_LEASE = 60.0
REDIS_RETRIES = 60  # about 15 minutes of waiting for Redis, backing off up to 15 s between tries


def frontier_keys(source: str) -> dict[str, str]:
    """The Redis keys of one source's frontier."""
    return {name: f"kuchikomi:{source}:{name}" for name in ("queue", "seen", "leases")}


class LoggedRetry(Retry):
    """redis-py's retry with backoff, saying in the log that Redis does not answer."""

    def call_with_retry(self, do, fail, *args, **kwargs):
        def logged_fail(error, *rest):
            logger.warning("Redis frontier did not answer (%s): waiting and trying again", error)
            return fail(error, *rest)
        return super().call_with_retry(do, logged_fail, *args, **kwargs)


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, retry=LoggedRetry(ExponentialBackoff(cap=15, base=0.5), REDIS_RETRIES),
                                retry_on_error=[redis.ConnectionError, redis.TimeoutError], socket_timeout=30)


def frontier_settings(url: str, lease: float, every: dict[str, float]) -> dict:
    """The Scrapy settings of a crawl on the frontier at `url`."""
    return {"SCHEDULER": "crawlers.frontier.redis_frontier.LeasedScheduler",
            "DUPEFILTER_CLASS": "crawlers.frontier.redis_frontier.ExpiringDupeFilter",
            "SCHEDULER_QUEUE_CLASS": "crawlers.frontier.redis_frontier.LeasedQueue",
            "SCHEDULER_PERSIST": True, "REDIS_URL": url, "KUCHIKOMI_FRONTIER": url,
            "KUCHIKOMI_FRONTIER_LEASE": lease, "KUCHIKOMI_FRONTIER_EVERY": every,
            # Requests are spaced by the shared slots (crawlers/frontier/politeness.py); a random
            # per-worker delay on top would push one past its slot, closer to the next worker's.
            "DOWNLOAD_DELAY_JITTER": 0}


# Take the first request of the queue (KEYS[1]) under a lease (KEYS[2]) that expires at ARGV[1].
TAKE = """
local item = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if not item then return false end
redis.call('ZREM', KEYS[1], item)
redis.call('ZADD', KEYS[2], ARGV[1], item)
return item
"""
# Queue a request (ARGV[2], priority score ARGV[1]) and end the lease of the one it continues (ARGV[3]).
PUSH = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[2], ARGV[3]) end
"""
# Leases that expired before ARGV[1] go back on the queue.
REQUEUE_EXPIRED = """
local items = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, item in ipairs(items) do
  redis.call('ZREM', KEYS[2], item)
  redis.call('ZADD', KEYS[1], 0, item)
end
return #items
"""
# Seen if fingerprint ARGV[2] was recorded after ARGV[1]; recorded now (ARGV[3]) if not.
SEEN = """
local when = redis.call('ZSCORE', KEYS[1], ARGV[2])
if when and tonumber(when) > tonumber(ARGV[1]) then return 1 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
return 0
"""


class ExpiringDupeFilter(RFPDupeFilter):
    """scrapy-redis's filter over a sorted set (fingerprint -> when seen): a page is new again after `every`."""

    def __init__(self, server, key, every: float, debug=False):
        super().__init__(server, key, debug)
        self.every = every
        self.seen = server.register_script(SEEN)

    @classmethod
    def from_spider(cls, spider):
        settings = spider.settings
        source = getattr(spider, "source", None) or spider.name
        every = settings.getdict("KUCHIKOMI_FRONTIER_EVERY").get(source, 3600.0)
        return cls(connect(settings["REDIS_URL"]), frontier_keys(source)["seen"], every,
                   settings.getbool("DUPEFILTER_DEBUG"))

    def request_seen(self, request) -> bool:
        now = time.time()
        self.server.zremrangebyscore(self.key, "-inf", now - self.every)  # Redis does not grow without bound
        return bool(self.seen(keys=[self.key], args=[now - self.every, self.request_fingerprint(request), now]))

    def close(self, reason=""):
        pass  # shared with the other workers: kept


class LeasedQueue(PriorityQueue):
    """scrapy-redis's priority queue; a request taken goes under a lease instead of away."""

    def __init__(self, server, spider, key, serializer=None):
        super().__init__(server, spider, key, serializer)
        source = getattr(spider, "source", None) or spider.name
        self.leases_key = frontier_keys(source)["leases"]
        self.lease = spider.settings.getfloat("KUCHIKOMI_FRONTIER_LEASE", DEFAULT_LEASE)
        self.held: dict[str, bytes] = {}  # lease id -> the request as queued, while this worker has it
        self.take = server.register_script(TAKE)
        self.put = server.register_script(PUSH)
        self.requeue = server.register_script(REQUEUE_EXPIRED)

    def push(self, request):
        continued = self.held.pop(request.meta.get(LEASE_KEY, ""), b"")  # a retry or redirect of a held page
        self.put(keys=[self.key, self.leases_key], args=[-request.priority, self._encode_request(request), continued])

    def pop(self, timeout=0):
        data = self.take(keys=[self.key, self.leases_key], args=[time.time() + self.lease])
        if not data:
            return None
        request = self._decode_request(data)
        self.held[request.meta[LEASE_KEY]] = data
        return request

    def release(self, lease_id: str) -> None:
        data = self.held.pop(lease_id, None)
        if data is not None:
            self.server.zrem(self.leases_key, data)

    def renew(self) -> None:
        if self.held:
            expiry = time.time() + self.lease
            self.server.zadd(self.leases_key, {data: expiry for data in self.held.values()}, xx=True)

    def requeue_expired(self) -> int:
        return self.requeue(keys=[self.key, self.leases_key], args=[time.time()])

    def give_back(self) -> None:
        for data in self.held.values():
            self.put(keys=[self.key, self.leases_key], args=[0, data, data])
        self.held.clear()

    def leased(self) -> int:
        return self.server.zcard(self.leases_key)

    def clear(self):
        self.server.delete(self.key, self.leases_key)


class LeasedScheduler(Scheduler):
    """scrapy-redis's scheduler on a LeasedQueue, with keys per source and leases renewed while held."""

    @classmethod
    def from_settings(cls, settings):
        # scrapy-redis builds its connection without retries; this one waits for Redis with backoff.
        server = connect(settings["REDIS_URL"])
        server.ping()
        return cls(server=server, persist=True, queue_cls=settings["SCHEDULER_QUEUE_CLASS"],
                   dupefilter_cls=settings["DUPEFILTER_CLASS"])

    def open(self, spider):
        self.queue_key = frontier_keys(getattr(spider, "source", None) or spider.name)["queue"]
        super().open(spider)
        self.df.server = self.server
        self.upkeep = task.LoopingCall(self.keep_leases)
        self.upkeep.start(max(self.queue.lease / 3, 0.5), now=False)

    def keep_leases(self) -> None:
        self.queue.renew()
        if requeued := self.queue.requeue_expired():
            logger.warning("%d pages of a worker that stopped are back on the queue", requeued)
            if self.stats:
                self.stats.inc_value("kuchikomi/frontier/requeued", requeued, spider=self.spider)

    def enqueue_request(self, request):
        # The lease id is the fingerprint of the page first asked for: retries and redirects keep it.
        request.meta.setdefault(LEASE_KEY, self.df.request_fingerprint(request))
        return super().enqueue_request(request)

    def release(self, lease_id: str) -> None:
        self.queue.release(lease_id)

    def close(self, reason):
        if self.upkeep.running:
            self.upkeep.stop()
        if reason == "finished":
            # Pages that ended without a callback (download failed, answer refused) are done for this crawl.
            for lease_id in list(self.queue.held):
                self.queue.release(lease_id)
        else:
            self.queue.give_back()  # stopped: the other workers take them now, not when the leases expire
        super().close(reason)

    def has_pending_requests(self):
        # Another worker's leased pages may bring new requests, or come back if it dies: wait for them.
        return len(self.queue) > 0 or self.queue.leased() > len(self.queue.held)
