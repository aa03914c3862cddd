"""`kuchikomi search`: the indexed reviews matching a query, as a table, JSON lines or CSV."""
from __future__ import annotations

import json
import sys

from kuchikomi.commands import query_errors, research_filters, research_options, research_target


def add_parser(sub, default_config: str):
    search = sub.add_parser("search", parents=[research_options(default_config)], help="search the indexed reviews",
                            description='Query syntax: words, "exact phrases", a OR b, -excluded, field:value '
                                        "(title, body, item, author, brand, site, lang, sentiment, "
                                        "rating:>=4, category:complaint, aspect:battery:negative). "
                                        "Terms are ANDed.")
    search.add_argument("query", nargs="?", default="")
    search.add_argument("--size", type=int, default=10, help="reviews per page (at most 1000)")
    search.add_argument("--sort", choices=["relevance", "newest", "oldest"], default="relevance")
    search.add_argument("--after", help="the cursor printed after a page: the next page")
    search.add_argument("--all", action="store_true", help="every matching review, page after page")
    search.add_argument("--format", choices=["table", "jsonl", "csv"], default="table")
    return search


def run(args) -> None:
    from index.research.export import write_csv
    from index.research.search import search
    client, alias, brands = research_target(args)
    filters = research_filters(args)
    seen = {"total": 0, "shown": 0, "next": None}

    def hits():
        after = args.after
        while True:
            page = query_errors(lambda: search(client, alias, filters, brands, args.size, args.sort, after))
            seen.update(total=page.total, next=page.next_cursor, shown=seen["shown"] + len(page.hits))
            yield from page.hits
            if not (args.all and page.next_cursor):
                return
            after = page.next_cursor

    if args.format == "csv":
        write_csv(hits(), sys.stdout)
    else:
        for hit in hits():
            print(json.dumps(hit, ensure_ascii=False) if args.format == "jsonl" else _search_line(hit))
    print(f"{seen['total']} matching reviews, {seen['shown']} shown"
          + (f"; next page: --after {seen['next']}" if seen["next"] and not args.all else ""), file=sys.stderr)


def _search_line(hit: dict) -> str:
    from alerts.message import category_names, plain
    from alerts.rules.base import excerpt
    sentiment = hit.get("sentiment") or {}
    rating = hit.get("rating") or {}
    stars = f"{rating['value']:g}/{rating['best']:g}" if rating.get("value") is not None else "-"
    categories = ", ".join(category_names(hit.get("categories")))
    return (f"[{sentiment.get('label', '-')} {sentiment.get('score', 0):.2f}] rating {stars} | "
            f"{plain(categories) + ' | ' if categories else ''}"
            f"{plain(', '.join(hit.get('brands') or []) or '-')} | {plain(hit.get('site'))} | "
            f"{plain((hit.get('date') or hit.get('published_at') or '-')[:10])} | {plain(hit.get('title') or '')}: "
            f"{plain(excerpt(hit.get('body'), 120))} | {plain(hit.get('review_url') or hit.get('source_url'))}")
