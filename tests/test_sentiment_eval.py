"""The evaluation command and the CI gate: development splits of ../shared/data/sentiment held to
the floors pinned in sentiment/eval_floors.json (`make eval` prints the tables)."""
import csv
import json
import math
from pathlib import Path

import pytest

from sentiment.datasets import DatasetError, hash_split, read_rows
from sentiment.evaluation import metrics
from tests.support.cli import kuchikomi

FLOORS = Path(__file__).resolve().parents[1] / "sentiment" / "eval_floors.json"
DEV_SETS = ["marc/trainpool_en.csv", "marc/trainpool_ja.csv", "marc/trainpool_zh.csv", "jrte/pn_train_dev.tsv",
            "zh/ChnSentiCorp_htl_all.csv", "zh/waimai_10k.csv"]
DEV_ROWS = 300  # per set: a fixed sample of its development split


def evaluate(*args):
    return kuchikomi("sentiment", "eval", *args)


@pytest.mark.slow
def test_eval_gate_on_development_data(shared, tmp_path):
    data = [arg for name in DEV_SETS for arg in ("--data", str(shared / "data" / "sentiment" / name))]
    scores = tmp_path / "scores.json"
    result = evaluate(*data, "--split", "dev", "--limit", str(DEV_ROWS), "--floors", str(FLOORS),
                      "--json", str(scores))
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    report = json.loads(scores.read_text())
    floors = json.loads(FLOORS.read_text())
    # Every pinned floor was checked against a language with rows in it.
    for key, minimums in floors.items():
        name, language = key.split("/")
        assert report[name][language]["binary"]["n"] > 0
        if "one_star_negative_recall" in minimums:
            assert report[name][language]["one_star"]["n"] > 0
    assert "gold \\ predicted" in result.stdout and "macro-F1" in result.stdout


def test_gate_fails_when_a_score_drops_below_its_floor(tmp_path):
    data = tmp_path / "mine.csv"
    with open(data, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "stars"])
        writer.writerows([("Broke after two days, total waste of money.", 1), ("Average, nothing special.", 3),
                          ("Love it, works perfectly and arrived early!", 5), ("とても良い商品でした。", 5),
                          ("最悪。すぐに壊れた。", 1)])
    scores = tmp_path / "scores.json"
    first = evaluate("--data", str(data), "--json", str(scores))
    assert first.returncode == 0, first.stderr[-2000:]
    measured = json.loads(scores.read_text())["mine"]
    language, entry = next(iter(measured.items()))
    floors = tmp_path / "floors.json"
    floors.write_text(json.dumps({f"mine/{language}": {"accuracy": entry["three_class"]["accuracy"] + 0.01}}))
    second = evaluate("--data", str(data), "--floors", str(floors))
    assert second.returncode == 1
    assert f"mine/{language}: accuracy" in second.stderr and "below its floor" in second.stderr


def test_labelled_files_in_their_common_shapes(tmp_path):
    stars = tmp_path / "stars.csv"
    stars.write_text("text,stars\nbad,1\nmeh,3\ngood,5\nfine,4\n", encoding="utf-8")
    assert [row.label for row in read_rows(stars)] == ["negative", "neutral", "positive", "positive"]
    binary = tmp_path / "binary.csv"
    binary.write_text("label,review\n1,很好\n0,太差了\n", encoding="utf-8")
    assert [(row.label, row.language) for row in read_rows(binary)] == [("positive", "zh"), ("negative", "zh")]
    jrte = tmp_path / "sentences.tsv"
    jrte.write_text("a1\t-1\t最悪でした。\t{}\ttrain\na2\t0\t普通です。\t{}\tdev\n", encoding="utf-8")
    assert [(row.label, row.split) for row in read_rows(jrte)] == [("negative", "train"), ("neutral", "dev")]
    assert [row.text for row in read_rows(jrte, split="dev")] == ["普通です。"]
    broken = tmp_path / "broken.csv"
    broken.write_text("text,label\nok,great\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"broken.csv:2: label 'great'"):
        read_rows(broken)
    nameless = tmp_path / "nameless.csv"
    nameless.write_text("words,score\nok,1\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="needs a text column"):
        read_rows(nameless)


def test_dev_split_is_stable_and_about_one_in_ten():
    texts = [f"review number {i}" for i in range(2000)]
    dev = [text for text in texts if hash_split(text) == "dev"]
    assert 150 < len(dev) < 250
    assert dev == [text for text in texts if hash_split(text) == "dev"]


def test_metrics_against_counts_by_hand():
    gold = ["negative", "negative", "positive", "positive", "neutral"]
    predicted = ["negative", "positive", "positive", "positive", "positive"]
    scores = metrics(gold, predicted, ("negative", "neutral", "positive"))
    assert scores["confusion"] == [[1, 0, 1], [0, 0, 1], [0, 0, 2]]
    assert scores["accuracy"] == 0.6
    # F1 negative 2/3 (p 1, r 1/2), neutral 0, positive 2/3 (p 1/2, r 1)
    assert scores["macro_f1"] == round((2 / 3 + 0 + 2 / 3) / 3, 4)


def test_unreadable_floors_or_data_give_one_clear_error(tmp_path):
    data = tmp_path / "mine.csv"
    data.write_text("text,stars\ngood,5\n", encoding="utf-8")
    missing = evaluate("--data", str(data), "--floors", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "nope.json" in missing.stderr and "Traceback" not in missing.stderr
    malformed = tmp_path / "floors.json"
    malformed.write_text('{"mine/en": 0.9}', encoding="utf-8")
    wrong = evaluate("--data", str(data), "--floors", str(malformed))
    assert wrong.returncode == 2 and "floors must map" in wrong.stderr
    absent = evaluate("--data", str(tmp_path / "absent.csv"))
    assert absent.returncode == 2 and "absent.csv: no such file" in absent.stderr


def test_bad_floors_or_data_are_told_before_the_model_loads(tmp_path, monkeypatch):
    import sentiment.model

    def no_model(config):
        raise AssertionError("the model was loaded before the arguments were checked")
    monkeypatch.setattr(sentiment.model, "load_classifier", no_model)
    data = tmp_path / "mine.csv"
    data.write_text("text,stars\ngood,5\n", encoding="utf-8")
    assert "nope.json" in evaluate("--data", str(data), "--floors", str(tmp_path / "nope.json")).stderr
    assert "absent.csv: no such file" in evaluate("--data", str(tmp_path / "absent.csv")).stderr


# Mildly negative Japanese: the raw head tends to call some of these neutral while leaning negative.
LEANING_NEGATIVE_JA = ["悪くはないけど、音が少し気になる。", "値段の割には、まあこんなものか。", "うーん、微妙かな。",
                       "可もなく不可もなく、ただ少し重い。", "普通に使えるが、期待ほどではない。"]


def test_calibration_is_applied_by_the_texts_language(tmp_path):
    from sentiment.model import HeadClassifier
    from sentiment.model_store import current_model_dir
    shipped = json.loads((current_model_dir() / "head.json").read_text())
    # The offline default is calibrated in each language of the written set.
    assert {"ja", "zh", "en"} <= set(shipped["calibration"])
    model = tmp_path / "model"
    model.mkdir()
    (model / "head.safetensors").write_bytes((current_model_dir() / "head.safetensors").read_bytes())
    (model / "head.json").write_text(json.dumps({**shipped, "calibration": {}}))
    raw = HeadClassifier(model)
    results = raw.classify(LEANING_NEGATIVE_JA)
    leaning = [(text, r["scores"]) for text, r in zip(LEANING_NEGATIVE_JA, results)
               if r["label"] == "neutral" and r["scores"]["negative"] > r["scores"]["positive"]]
    assert leaning, "no written ja sample the raw head calls neutral while leaning negative"
    text, scores = leaning[0]
    # A Japanese offset that lifts negative just past neutral for this text (the kind build fits).
    offset = math.log(scores["neutral"] / scores["negative"]) + 0.2
    (model / "head.json").write_text(json.dumps({**shipped, "calibration": {
        "ja": {"temperature": 1.0, "offsets": {"negative": offset, "neutral": 0.0, "positive": 0.0}}}}))
    calibrated = HeadClassifier(model)
    assert calibrated.classify([text])[0]["label"] == "negative"  # language detected: ja
    assert calibrated.classify([text], languages=["ja"])[0]["label"] == "negative"
    # Other languages (none fitted here) and the model's own scores are unchanged.
    assert calibrated.classify([text], languages=["en"])[0]["scores"] == scores
    assert calibrated.classify([text], calibrated=False)[0]["scores"] == scores


def test_one_star_recall_and_the_calibration_in_the_report(tmp_path):
    data = tmp_path / "rated.csv"
    with open(data, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "stars", "language"])
        writer.writerows([("Broke after two days, total waste of money.", 1, "en"),
                          ("Stopped charging in a week. Never again.", 1, "en"),
                          ("Average, nothing special.", 3, "en"), ("Love it, works perfectly!", 5, "en"),
                          ("最悪。すぐに壊れた。", 1, "ja"), ("二度と買いません。電源が入らない。", 1, "ja"),
                          ("普通です。", 3, "ja"), ("とても良い商品でした。", 5, "ja")])
    scores = tmp_path / "scores.json"
    result = evaluate("--data", str(data), "--json", str(scores))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(scores.read_text())["rated"]
    for language in ("en", "ja"):
        one_star = report[language]["one_star"]
        assert one_star["n"] == 2 and 0 <= one_star["negative_recall"] <= 1
        assert report[language]["uncalibrated"]["three_class"]["n"] == 4
        assert f"{language}   1-star   n=2" in result.stdout
        assert f"{language}   calibration temperature" in result.stdout
    assert "without -> with it: 3-class macro-F1" in result.stdout
    floors = tmp_path / "floors.json"
    floors.write_text(json.dumps({"rated/ja": {"one_star_negative_recall": 1.01}}))
    below = evaluate("--data", str(data), "--floors", str(floors))
    assert below.returncode == 1 and "rated/ja: one_star_negative_recall" in below.stderr
