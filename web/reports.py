"""The research reports as charts: each bar links to the inbox filtered to what it counts."""
from __future__ import annotations

from datetime import datetime, timezone

from markupsafe import Markup

from index.research.report import NO_BRAND, Report
from web import charts
from web.i18n import Translator
from web.overview import LABELS, bucket_end
from web.view import View


def _period_link(view: View, period: str, interval: str, **changes) -> str:
    start = datetime.fromisoformat(period).replace(tzinfo=timezone.utc)
    return "/inbox?" + view.link(since=start.isoformat(), until=bucket_end(start, interval).isoformat(), **changes)


def report_chart(report: Report, view: View, t: Translator, interval: str | None) -> Markup | None:
    rows = report.rows
    if not rows:
        return None
    title = t(f"report_{report.name}")
    if report.name == "mentions":
        periods: dict[str, dict] = {}
        for row in rows:
            column = periods.setdefault(row["period"], {"label": row["period"], "counts": dict.fromkeys(LABELS, 0)})
            for label in LABELS:
                column["counts"][label] += row[label]
        columns = [{**c, "tip": f'{c["label"]}: {sum(c["counts"].values())}'} for c in periods.values()]
        return charts.stacked_columns(title, columns, href=lambda c: _period_link(view, c["label"], interval))
    if report.name == "share_of_voice":
        return charts.bars(title, [{"label": r["brand"], "counts": {k: r[k] for k in LABELS},
                                    "shown": f'{r["share"] * 100:.1f}%'} for r in rows],
                           href=lambda r: "/inbox?" + view.link(brand=[r["label"]]), width=760)
    if report.name == "top_sites":
        return charts.bars(title, [{"label": r["site"], "counts": {k: r[k] for k in LABELS}} for r in rows],
                           href=lambda r: "/inbox?" + view.link(site=[r["label"]]), width=760)
    if report.name in ("categories", "aspects"):
        # A bar per category (all periods and brands) or per brand's aspect, split by sentiment.
        key = "category" if report.name == "categories" else "aspect"  # also the query syntax's field
        bars: dict[str, dict] = {}
        for row in rows:
            label = row[key] if report.name == "categories" else f"{row['brand']}: {row['aspect']}"
            bar = bars.setdefault(label, {"label": label, "name": row[key], "counts": dict.fromkeys(LABELS, 0)})
            for sentiment in LABELS:
                bar["counts"][sentiment] += row[sentiment]
        return charts.bars(title, list(bars.values()), href=lambda r: "/inbox?" + view.link(q=f"{key}:{r['name']}"),
                           width=760)
    if report.name == "significant_terms":
        return charts.bars(title, [{"label": r["term"], "value": r["negative_reviews"]} for r in rows],
                           href=lambda r: "/inbox?" + view.link(q=f'"{r["label"]}"', sentiment=["negative"]),
                           width=760)
    periods = sorted({row["period"] for row in rows})
    series: dict[str, dict[str, float]] = {}
    for row in rows:
        if row["average_stars"] is not None and row["brand"] != NO_BRAND:
            series.setdefault(row["brand"], {})[row["period"]] = row["average_stars"]
    return charts.lines(title, periods, series, 1, 5)
