"""`kuchikomi sentiment train --fine-tune`: the encoder's top layers and the head learn from star-rated reviews in a
real index; the tuned layers are a small file beside the head, loaded over the base encoder."""
import json
from pathlib import Path

import pytest
import yaml
from elasticsearch import Elasticsearch

from index.storage.schema import ensure_reviews_index
from index.storage.writer import BulkWriter
from sentiment.datasets import rated_reviews
from sentiment.training import is_held_out
from tests.support.cli import kuchikomi
from tests.support.research_corpus import document

PRODUCTS = {"en": ["earbuds", "kettle", "router", "blender", "desk lamp", "backpack"],
            "ja": ["イヤホン", "電気ケトル", "ルーター", "ミキサー", "デスクライト", "リュック"]}
BY_STARS = {
    "en": {1: "The {} broke on the second day. Total waste of money.",
           2: "The {} works, but it is noisy and feels cheap. Not happy.",
           3: "The {} is okay. Nothing special either way.",
           4: "Good {}, does what it should. Shipping was a bit slow.",
           5: "I love this {}! Works perfectly, highly recommended."},
    "ja": {1: "{}が二日で壊れた。お金の無駄でした。",
           2: "{}は一応使えるが、うるさいし安っぽい。不満です。",
           3: "{}は普通です。可もなく不可もなく。",
           4: "{}は良いです。配送が少し遅かった。",
           5: "この{}は最高！完璧に動く、おすすめです。"},
}
ROWS = [(f"{language}-{product}-{stars}", language, "shop.example.com", [], None, stars, "2024-05-01", None,
         template.format(product))
        for language, templates in BY_STARS.items() for stars, template in templates.items()
        for product in PRODUCTS[language]]


def rated_index(es_url: str, prefix: str, folder: Path) -> str:
    client = Elasticsearch([es_url])
    alias = ensure_reviews_index(client, prefix)
    docs = [document(row) for row in ROWS] + [document(("unrated", "en", "shop.example.com", [], None, None,
                                                         "2024-05-01", None, "No stars on this one."))]
    assert not any(BulkWriter(client, alias, folder / "spool.jsonl").write(docs).values())
    client.indices.refresh(index=alias)
    return alias


def monitor(folder: Path, es_url: str, prefix: str, sentiment: dict | None = None) -> Path:
    config = folder / "monitor.yaml"
    config.write_text(yaml.safe_dump({"elasticsearch": {"url": es_url, "index_prefix": prefix},
                                      "sources": [{"name": "unused", "start_urls": ["http://127.0.0.1:9/"]}],
                                      **({"sentiment": sentiment} if sentiment else {})}))
    return config


def classify_version() -> str:
    result = kuchikomi("sentiment", "classify", input="ok\n")
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)["model_version"]


def test_rated_reviews_are_labelled_by_their_stars(es_url, index_prefix, tmp_path):
    alias = rated_index(es_url, index_prefix, tmp_path)
    rows = rated_reviews(Elasticsearch([es_url]), alias)
    assert len(rows) == len(ROWS)  # the review without a rating is not among them
    by_text = {row.text: row for row in rows}
    expected = {1: "negative", 2: "negative", 3: "neutral", 4: "positive", 5: "positive"}
    for *_, stars, _, _, body in ROWS:
        assert (by_text[body].label, by_text[body].stars) == (expected[stars], stars)


@pytest.mark.slow
def test_fine_tuning_on_rated_reviews_in_the_index(es_url, index_prefix, tmp_path, kuchikomi_home):
    rated_index(es_url, index_prefix, tmp_path)
    assert sum(is_held_out(row[-1]) for row in ROWS) >= 10  # enough held out to judge by
    before = classify_version()
    result = kuchikomi("sentiment", "train", "--fine-tune", "--from-index", "--layers", "1", "--epochs", "1",
                       "--config", str(monitor(tmp_path, es_url, index_prefix)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{len(ROWS)} star-rated reviews from the index" in result.stderr
    assert "fine-tuned the top 1 encoder layers for 1 epochs" in result.stdout
    line = next(line for line in result.stdout.splitlines() if line.startswith("held-out accuracy"))
    accuracy_before, accuracy_after = (float(part.split()[0]) for part in line.split("before")[1].split(", after"))
    models = kuchikomi_home / "models"
    if accuracy_after < accuracy_before:
        assert "current model stays in use" in result.stdout
        assert classify_version() == before and not (models / "sentiment-current").exists()
        return
    assert "current model stays in use" not in result.stdout
    directory = models / (models / "sentiment-current").read_text().strip()
    meta = json.loads((directory / "head.json").read_text())
    assert meta["tuned_layers"]["layers"] == [11]
    tuned = directory / meta["tuned_layers"]["file"]
    from safetensors.torch import load_file
    assert {name.split(".")[2] for name in load_file(str(tuned))} == {"11"}  # only the tuned layer
    assert tuned.stat().st_size < 10_000_000  # one layer of e5-small, not the 470 MB encoder
    # Classification now runs the base encoder with the tuned layer over it: a new model_version.
    # (the category heads are refitted on the tuned encoder too: they are the part after the "+").
    tuned_version = classify_version()
    assert tuned_version.split("+")[0] == meta["version"] and tuned_version != before


def test_fine_tuning_on_cuda_without_a_gpu_is_one_clear_line(tmp_path, kuchikomi_home):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    data = tmp_path / "mine.csv"
    data.write_text("text,stars\ngood,5\nbad,1\n", encoding="utf-8")
    result = kuchikomi("sentiment", "train", "--fine-tune", "--device", "cuda", "--data", str(data))
    assert result.returncode == 2
    assert "no CUDA GPU is available" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_layers_beyond_the_encoder_are_refused(tmp_path, kuchikomi_home):
    data = tmp_path / "mine.csv"
    data.write_text("text,stars\n" + "".join(f"review {i} is fine,{1 + i % 5}\n" for i in range(80)),
                    encoding="utf-8")
    result = kuchikomi("sentiment", "train", "--fine-tune", "--layers", "13", "--data", str(data))
    assert result.returncode == 2
    assert "--layers must be between 1 and 12" in result.stderr and "Traceback" not in result.stderr
