"""`kuchikomi extract`: the reviews a crawl would find on one page, as JSON lines; nothing stored."""
from __future__ import annotations

import json
import logging
import sys

from kuchikomi.commands import fail


def add_parser(sub, default_config: str):
    extract = sub.add_parser("extract", help="print the reviews the spider finds on one page (JSON lines)")
    extract.add_argument("source", help="a saved page or API answer (HTML, JSON, a 5ch .dat) or an http(s) URL")
    extract.add_argument("--url", help="the page's original URL, for a saved file (it picks the profile or platform)")
    how = extract.add_mutually_exclusive_group()
    how.add_argument("--profile", help="read the page with this site profile (a shipped name or a YAML file)")
    how.add_argument("--platform", help="read the answer with this platform's reader (bilibili, weibo, fivech, ...)")
    return extract


def run(args) -> None:
    from crawlers.extraction.page import extract_page
    from crawlers.extraction.platforms import PLATFORMS
    from crawlers.extraction.site_profile import ProfileError, load_profile
    try:
        profile = load_profile(args.profile) if args.profile else None
    except ProfileError as exc:
        fail(str(exc))
    if args.platform and args.platform not in PLATFORMS:
        fail(f"--platform {args.platform}: no such platform (platforms: {', '.join(sorted(PLATFORMS))})")
    # A broken markup block on the page is a warning line on stderr; the reviews still print.
    warnings = logging.StreamHandler(sys.stderr)
    warnings.setLevel(logging.WARNING)
    logging.getLogger().addHandler(warnings)
    try:
        items, aggregate = extract_page(args.source, args.url, profile, args.platform)
    except (OSError, ValueError) as exc:
        fail(f"{args.source}: {exc}", 1)
    finally:
        logging.getLogger().removeHandler(warnings)
    for item in items:
        print(json.dumps(item, ensure_ascii=False))
    summary = f"{len(items)} reviews"
    if aggregate:
        summary += (f"; page aggregate {aggregate['value']:g} of {aggregate['best']:g}"
                    + (f" from {aggregate['count']} ratings" if aggregate.get("count") is not None else ""))
    print(summary, file=sys.stderr)
