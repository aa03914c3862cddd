"""One message to a channel: a single alert, or several grouped ones, in a channel-neutral form.

Channels render it in their own format and escape crawled text for it; the text here is plain.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Crawled text must not drive a terminal or split a header, nor reorder the text printed around it
# (after U+202E a line reads right to left): drop control characters and the Unicode bidi controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain(value) -> str:
    return _CONTROL.sub("", str(value)) if value is not None else ""


def one_line(value) -> str:
    return " ".join(plain(value).replace("\n", " ").split())


@dataclass
class Message:
    alerts: list[dict]

    @property
    def message_id(self) -> str:
        return hashlib.sha1("\x1f".join(sorted(a["alert_id"] for a in self.alerts)).encode()).hexdigest()

    @property
    def rule(self) -> str:
        return self.alerts[0]["rule"]

    @property
    def headline(self) -> str:
        first = one_line(self.alerts[0].get("headline") or self.rule)
        if len(self.alerts) == 1:
            return first
        return f"{len(self.alerts)} alerts ({self.rule}): {first}, and {len(self.alerts) - 1} more"

    def reviews(self) -> list[dict]:
        """Every review the message is about: per-review alerts, and those inside events."""
        found = []
        for alert in self.alerts:
            found.extend(alert["reviews"] if "reviews" in alert else [alert])
        return found

    def as_dict(self) -> dict:
        return {"message_id": self.message_id, "rule": self.rule, "rule_type": self.alerts[0]["rule_type"],
                "headline": self.headline, "count": len(self.alerts), "alerts": self.alerts}

    def text(self) -> str:
        """The plain-text body (email, chat services through apprise)."""
        blocks = []
        for alert in self.alerts:
            lines = [one_line(alert.get("headline")), f"Why: {one_line(alert.get('reason'))}"]
            for key, value in (alert.get("stats") or {}).items():
                lines.append(f"{key}: {one_line(value)}")
            blocks.append("\n".join(lines))
            nested = alert.get("reviews", [alert] if alert.get("doc_id") else [])
            blocks.extend(review_block(review) for review in nested)
        return "\n\n".join(blocks)


def category_names(categories) -> list[str]:
    """The names of a review's categories, stored as {name, score} objects (highest first) or given as names."""
    names = (c.get("name") if isinstance(c, dict) else c for c in categories or [])
    return [str(name) for name in names if name]


def aspect_lines(review: dict) -> list[str]:
    """One line per aspect: the category, its sentiment in that sentence, and the sentence."""
    return [f"{one_line(a.get('category'))} ({one_line(a.get('sentiment'))}): {one_line(a.get('sentence'))}"
            for a in review.get("aspects") or [] if isinstance(a, dict)]


def review_facts(review: dict) -> str:
    """brand · site · rating · sentiment · categories, the line above each excerpt."""
    parts = [", ".join(review.get("brands") or []), review.get("site") or ""]
    if review.get("rating") is not None:
        parts.append(f"rating {review['rating']:g}/{review.get('rating_best') or 5:g}")
    if review.get("sentiment"):
        score = review.get("sentiment_score")
        parts.append(f"{review['sentiment']} {score:.2f}" if score is not None else review["sentiment"])
    categories = category_names(review.get("categories"))
    if categories:
        parts.append("categories: " + ", ".join(categories))
    return " · ".join(one_line(p) for p in parts if p)


def review_block(review: dict) -> str:
    """A review as a message shows it: facts, title and excerpt, aspects, link."""
    title = one_line(review.get("title"))
    body = one_line(review.get("excerpt"))
    lines = [review_facts(review), f"{title}: {body}" if title else body, *aspect_lines(review)]
    if review.get("url"):
        lines.append(one_line(review["url"]))
    return "\n".join(line for line in lines if line)
