"""`kuchikomi report`: trend reports as tables, with CSV and PNG charts on request."""
from __future__ import annotations

import sys
from pathlib import Path

from kuchikomi.commands import fail, query_errors, research_filters, research_options, research_target, table


def add_parser(sub, default_config: str):
    report = sub.add_parser("report", parents=[research_options(default_config)],
                            help="trend reports as tables, CSV and PNG charts")
    report.add_argument("reports", nargs="*", help="mentions, share_of_voice, top_sites, rating_trend, "
                                                   "significant_terms, categories, aspects (default: all)")
    report.add_argument("--query", "-q", help="only reviews matching this search")
    report.add_argument("--interval", choices=["day", "week", "month"], default="week")
    report.add_argument("--top", type=int, default=10, help="brands, sites or terms shown")
    report.add_argument("--out", help="write <report>.csv and <report>.png into this folder")
    return report


def run(args) -> None:
    from index.research.charts import write_chart, write_csv
    from index.research.report import INTERVAL_REPORTS, REPORTS
    client, alias, brands = research_target(args)
    filters = research_filters(args)
    names = list(REPORTS) if not args.reports or "all" in args.reports else args.reports
    unknown = [name for name in names if name not in REPORTS]
    if unknown:
        fail(f"no report named {unknown[0]!r} (reports: {', '.join(REPORTS)})")
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    for name in names:
        options = {"interval": args.interval} if name in INTERVAL_REPORTS else {}
        report = query_errors(lambda: REPORTS[name](client, alias, filters, brands, top=args.top, **options))
        print(f"\n{report.title}\n{table(report.columns, report.rows) if report.rows else '(no reviews match)'}")
        if out:
            write_csv(report, out / f"{name}.csv")
            write_chart(report, out / f"{name}.png")
    if out:
        print(f"\nCSV and PNG files in {out}", file=sys.stderr)
