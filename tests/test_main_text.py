"""Main-text extraction: the quality gate on the article-extraction-benchmark, and what it leaves out."""
import gzip
import json
import re
from collections import Counter

from crawlers.extraction.main_text import F1_FLOOR, main_text


def token_f1(found: str | None, truth: str) -> float:
    words = lambda text: Counter(re.findall(r"\w+", (text or "").lower()))  # noqa: E731
    got, want = words(found), words(truth)
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def test_gate_main_text_f1_on_the_article_benchmark(shared):
    root = shared / "fixtures" / "benchmarks" / "article-extraction-benchmark"
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    scores = []
    for key, expected in truth.items():
        page = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8", "replace")
        scores.append(token_f1(main_text(page, expected.get("url")).text, expected["articleBody"]))
    mean = sum(scores) / len(scores)
    print(f"main text: mean token F1 {mean:.4f} over {len(scores)} pages (floor {F1_FLOOR})")
    assert len(scores) == 181 and mean >= F1_FLOOR


def test_navigation_and_comments_are_left_out():
    article = " ".join(["The new headphones keep their charge for a full week of daily commuting."] * 6)
    page = f"""<html><head><title>Headphones review</title></head><body>
      <nav><a href="/">Home</a> <a href="/deals">Deals of the day</a></nav>
      <article><h1>Headphones review</h1><p>{article}</p></article>
      <section id="comments" class="comments"><h2>Comments</h2>
        <div class="comment"><p>First! Buy cheap watches at spam.example</p></div></section>
      <footer>Copyright Example Media</footer></body></html>"""
    found = main_text(page, "https://news.example/headphones")
    assert "full week of daily commuting" in found.text
    assert not any(noise in found.text for noise in ("Deals of the day", "spam.example", "Copyright"))
