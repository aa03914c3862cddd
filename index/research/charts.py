"""Reports as CSV files and PNG charts (matplotlib, headless, with a CJK font so brand names show)."""
from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from pathlib import Path

from index.research.report import Report


@lru_cache(maxsize=1)
def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import font_manager, pyplot
    # Noto Sans CJK (SIL OFL) from the mplfonts package covers Japanese, Chinese and Latin.
    font = Path(str(resources.files("mplfonts"))) / "fonts" / "NotoSansCJKsc-Regular.otf"
    font_manager.fontManager.addfont(str(font))
    pyplot.rcParams["font.family"] = font_manager.FontProperties(fname=str(font)).get_name()
    return pyplot


def write_csv(report: Report, path: Path) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=report.columns)
        writer.writeheader()
        writer.writerows(report.rows)
    return path


def _series(rows: list[dict], value: str, key: str = "brand") -> tuple[list[str], dict[str, list]]:
    """One line per `key` (brand, category) over the periods; values of rows sharing a period and key add up."""
    periods = sorted({row["period"] for row in rows})
    series: dict[str, list] = {}
    for row in rows:
        line = series.setdefault(row[key], [None] * len(periods))
        at = periods.index(row["period"])
        line[at] = row[value] if line[at] is None else line[at] + row[value]
    return periods, series


def write_chart(report: Report, path: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(10, 5.5), dpi=100)
    rows = report.rows
    if not rows:
        axes.text(0.5, 0.5, "nothing to show for these filters", ha="center", va="center")
        axes.set_axis_off()
    elif report.name in ("mentions", "rating_trend", "categories"):
        value = "average_stars" if report.name == "rating_trend" else "mentions"
        # categories: one line per category, all brands together (the CSV keeps them apart)
        periods, series = _series(rows, value, "category" if report.name == "categories" else "brand")
        for name, values in series.items():
            axes.plot(periods, [0 if v is None and value == "mentions" else v for v in values],
                      marker="o", label=name)
        axes.set_ylabel("reviews" if value == "mentions" else "average stars (1-5)")
        if value == "average_stars":
            axes.set_ylim(1, 5)
        axes.legend(loc="best", fontsize="small")
        axes.tick_params(axis="x", labelrotation=45)
    elif report.name == "aspects":
        labels = [row["aspect"] if len({r["brand"] for r in rows}) == 1 else f"{row['brand']}: {row['aspect']}"
                  for row in reversed(rows)]
        left = [0] * len(rows)
        for label, colour in (("negative", "#c62828"), ("neutral", "#9e9e9e"), ("positive", "#2e7d32")):
            counts = [row[label] for row in reversed(rows)]
            axes.barh(labels, counts, left=left, label=label, color=colour)
            left = [a + b for a, b in zip(left, counts)]
        axes.set_xlabel("sentences")
        axes.legend(loc="best", fontsize="small")
    elif report.name == "share_of_voice":
        labels = [row["brand"] for row in rows]
        bottom = [0.0] * len(rows)
        for label, colour in (("positive", "#2e7d32"), ("neutral", "#9e9e9e"), ("negative", "#c62828")):
            shares = [row[label] / row["mentions"] * row["share"] * 100 for row in rows]
            axes.bar(labels, shares, bottom=bottom, label=label, color=colour)
            bottom = [b + s for b, s in zip(bottom, shares)]
        axes.set_ylabel("share of brand mentions (%)")
        axes.legend(loc="best", fontsize="small")
    else:
        key, value = {"top_sites": ("site", "reviews"), "significant_terms": ("term", "score")}[report.name]
        axes.barh([row[key] for row in reversed(rows)], [row[value] for row in reversed(rows)], color="#1565c0")
        axes.set_xlabel(value.replace("_", " "))
    axes.set_title(report.title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
