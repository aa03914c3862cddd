"""The closing report of a crawl: per source, and what the index now holds."""
from __future__ import annotations

from alerts.state import DEAD, DELIVERED, FAILED, PENDING, SENDING, DeliveryState
from index.storage.client import ES_ERRORS, alerts_index, reviews_alias
from sentiment.model import LABELS as LABELS_SHOWN

# A robots.txt that is not there is how most sites say "crawl anything": no error.
ROBOTS_TXT_ABSENT = {"404", "410"}


def errors_by_kind(stats: dict) -> dict[str, int]:
    """Failed downloads by exception (DNSLookupError, TimeoutError, ...) and by HTTP error status of the pages
    (a robots.txt answer is its own kind), pages the spider failed on, reviews Elasticsearch refused."""
    kinds = {}
    for key, value in stats.items():
        if key.startswith("downloader/exception_type_count/"):
            kinds[key.rsplit(".", 1)[-1]] = value
        elif key.startswith("downloader/response_status_count/") and key.rsplit("/", 1)[-1] >= "400":
            status = key.rsplit("/", 1)[-1]
            robots = stats.get(f"robotstxt/response_status_count/{status}", 0)
            if value > robots:
                kinds[f"HTTP {status}"] = value - robots
            if robots and status not in ROBOTS_TXT_ABSENT:
                kinds[f"robots.txt HTTP {status}"] = robots
        elif key.startswith("spider_exceptions/") and key != "spider_exceptions/count":
            kinds[f"spider error {key.rsplit('/', 1)[-1]}"] = value
    if stats.get("kuchikomi/index/failed"):
        kinds["refused by Elasticsearch"] = stats["kuchikomi/index/failed"]
    return kinds


def error_count(stats: dict) -> int:
    """Errors logged, and reviews Elasticsearch refused (each logged only as a dropped item)."""
    return stats.get("log_count/ERROR", 0) + stats.get("kuchikomi/index/failed", 0)


def print_summary(monitor, stats: dict[str, dict], client) -> None:
    print("\n=== kuchikomi crawl summary ===")
    for name, s in stats.items():
        labels = ", ".join(f"{label} {s.get(f'kuchikomi/sentiment/{label}', 0)}" for label in LABELS_SHOWN)
        if s.get("kuchikomi/sentiment/corrected"):
            labels += f"; {s['kuchikomi/sentiment/corrected']} as corrected by the team"
        dropped = {k.split("/")[-1]: v for k, v in s.items()
                   if k.startswith(("kuchikomi/dropped/", "kuchikomi/skipped/"))}
        truncated = {k.split("/")[-1]: v for k, v in s.items() if k.startswith("kuchikomi/truncated/")}
        waited = {k.split("/")[-1]: v for k, v in s.items() if k.startswith("kuchikomi/retry_after/")}
        kinds = errors_by_kind(s)
        print(f"source {name}: {s.get('kuchikomi/pages', 0)} pages ({s.get('kuchikomi/pages_unchanged', 0)} "
              f"unchanged), {s.get('kuchikomi/index/written', 0)} reviews indexed "
              f"(new {s.get('kuchikomi/index/created', 0)}, updated {s.get('kuchikomi/index/updated', 0)}, "
              f"unchanged {s.get('kuchikomi/index/unchanged', 0)}; "
              f"{labels}), "
              f"alerts new {s.get('kuchikomi/alerts/matched', 0)}, "
              f"delivered {s.get('kuchikomi/alerts/delivered', 0)}, "
              f"already recorded {s.get('kuchikomi/alerts/already_recorded', 0)}, "
              f"failed {s.get('kuchikomi/alerts/failed', 0) + s.get('kuchikomi/alerts/dead', 0)}; "
              f"errors {error_count(s)}"
              + (f" {kinds}" if kinds else "")
              + (f"; {s['kuchikomi/index/spooled']} reviews kept on disk for the next run (Elasticsearch "
                 "unavailable)" if s.get("kuchikomi/index/spooled") else "")
              + (f"; {s['kuchikomi/alerts/held']} alerts held for the next run" if s.get("kuchikomi/alerts/held")
                 else "")
              + (f"; alert rules of {s['kuchikomi/alerts/unevaluated']} reviews run again next time"
                 if s.get("kuchikomi/alerts/unevaluated") else "")
              + (f"; skipped {dropped}" if dropped else "")
              + (f"; cut to the longest value kept {truncated}" if truncated else "")
              + (f"; waited as Retry-After asked on {waited}" if waited else "")
              + (f"; resumed {s['kuchikomi/job/resumed_pages']} unfinished pages of an interrupted crawl"
                 if s.get("kuchikomi/job/resumed_pages") else "")
              + f" [{s.get('finish_reason', '?')}]")
    try:
        print_index_totals(monitor, client)
    except ES_ERRORS as exc:
        print(f"index totals not shown, Elasticsearch did not answer: {str(exc).splitlines()[0][:200]}")


def print_index_totals(monitor, client) -> None:
    """What the reviews and alerts indices hold now, everything this crawl wrote included."""
    alias = reviews_alias(monitor.elasticsearch)
    client.indices.refresh(index=alias)
    reply = client.search(index=alias, size=0, body={"aggs": {
        "sentiment": {"terms": {"field": "sentiment.label"}}}})
    by_label = {b["key"]: b["doc_count"] for b in reply["aggregations"]["sentiment"]["buckets"]}
    print(f"index {alias}: {reply['hits']['total']['value']} reviews — "
          + ", ".join(f"{label} {by_label.get(label, 0)}" for label in LABELS_SHOWN))
    alerts = alerts_index(monitor.elasticsearch)
    if client.indices.exists(index=alerts):
        # Deliveries at the crawl's end are recorded without a refresh: without one they would not be counted.
        client.indices.refresh(index=alerts)
        statuses = DeliveryState(client, alerts).counts()
        waiting = sum(statuses.get(status, 0) for status in (FAILED, PENDING, SENDING))
        print(f"alerts: {statuses.get(DELIVERED, 0)} delivered in total, {waiting} waiting "
              f"(held, grouped or retrying), {statuses.get(DEAD, 0)} failed for good "
              f"(`kuchikomi alerts list --failed`)")


def record_crawls(monitor, stats: dict[str, dict], client) -> None:
    """Each source's figures of this crawl into `<prefix>-crawls`, for the web workspace's sources page (the
    stats themselves live only as long as the crawl process). A failure to write is logged, never fatal."""
    import logging
    import time
    from datetime import datetime, timezone

    from crawlers import source_state
    from index.storage.client import ES_ERRORS, crawls_index
    from index.storage.schema import ensure_crawls_index
    from kuchikomi.schedule import DEFAULT_EVERY, due_in

    def iso(moment: datetime | None) -> str | None:
        if moment is None:
            return None
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat(timespec="seconds")

    now = time.time()
    default_every = monitor.crawl.get("every", DEFAULT_EVERY)
    try:
        index = ensure_crawls_index(client, crawls_index(monitor.elasticsearch))
        for name, s in stats.items():
            # The next run is known only for sources the schedule (`crawl --loop`) has started.
            scheduled = source_state.load(name).get("last_started")
            next_run = (datetime.fromtimestamp(now + due_in(monitor.source(name), default_every, now), timezone.utc)
                        if scheduled else None)
            client.index(index=index, body={
                "source": name, "started_at": iso(s.get("start_time")),
                "finished_at": iso(s.get("finish_time") or datetime.now(timezone.utc)),
                "pages": s.get("kuchikomi/pages", 0), "pages_unchanged": s.get("kuchikomi/pages_unchanged", 0),
                "reviews_new": s.get("kuchikomi/index/created", 0),
                "reviews_updated": s.get("kuchikomi/index/updated", 0),
                "reviews_unchanged": s.get("kuchikomi/index/unchanged", 0),
                "errors": s.get("log_count/ERROR", 0), "errors_by_kind": errors_by_kind(s),
                "finish_reason": s.get("finish_reason"), "next_run_at": iso(next_run)})
    except ES_ERRORS as exc:
        logging.getLogger(__name__).warning("crawl figures not recorded for the workspace: %s", exc)
