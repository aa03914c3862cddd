"""`kuchikomi export`: every matching review as JSON lines, CSV or Parquet."""
from __future__ import annotations

import sys

from kuchikomi.commands import fail, query_errors, research_filters, research_options, research_target


def add_parser(sub, default_config: str):
    export = sub.add_parser("export", parents=[research_options(default_config)],
                            help="matching reviews as JSON lines, CSV or Parquet")
    export.add_argument("--query", "-q", help="only reviews matching this search")
    export.add_argument("--format", choices=["jsonl", "csv", "parquet"], default="jsonl")
    export.add_argument("--output", "-o", default="-", help="file (default: standard output)")
    return export


def run(args) -> None:
    from index.research.export import write_csv, write_jsonl, write_parquet
    from index.research.search import iter_documents
    client, alias, brands = research_target(args)
    docs = iter_documents(client, alias, research_filters(args), brands)
    if args.format == "parquet":
        if args.output == "-":
            fail("parquet needs a file: give --output FILE")
        count = query_errors(lambda: write_parquet(docs, args.output))
    else:
        writer = write_jsonl if args.format == "jsonl" else write_csv
        if args.output == "-":
            count = query_errors(lambda: writer(docs, sys.stdout))
        else:
            with open(args.output, "w", encoding="utf-8", newline="") as handle:
                count = query_errors(lambda: writer(docs, handle))
    print(f"exported {count} reviews" + (f" to {args.output}" if args.output != "-" else ""), file=sys.stderr)
