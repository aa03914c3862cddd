"""The text a review is judged by: its title and body, one line apart."""
from __future__ import annotations

from collections.abc import Mapping


def review_text(review: Mapping) -> str:
    """Title and body joined by a newline (either may be missing); works on items and stored reviews."""
    return "\n".join(filter(None, [review.get("title"), review.get("body")]))
