"""Categories and aspects on real parts: the offline model, the CLI, a real Elasticsearch node and the demo site."""
import json
from pathlib import Path

import pytest

from crawlers.static_site import DEMO_SITE, StaticSite
from foundations.review_text import review_text
from sentiment.training import is_held_out
from tests.support.cli import kuchikomi
from tests.test_end_to_end import crawl, monitor_config, stored
from tests.test_sentiment import tiny_classifier_dir

ROOT = Path(__file__).resolve().parents[1]
# (text, categories it must have): a clear complaint about a defect, a question and a purchase intent per language
CLEAR = [
    ("届いて三日で電源が入らなくなりました。本当にがっかりです。", {"complaint", "defect"}),
    ("这个充电宝用了两天就坏了，充不进电，太失望了。", {"complaint", "defect"}),
    ("It stopped working after two days and won't turn on. Very disappointed.", {"complaint", "defect"}),
    ("このイヤホンはiPhoneでも使えますか？", {"question"}),
    ("请问这款耳机支持降噪吗？", {"question"}),
    ("Does this blender work with 220V outlets?", {"question"}),
    ("次のセールでこのカメラを買おうと思っています。", {"purchase_intent"}),
    ("想入手这款相机，双十一会降价吗？", {"purchase_intent"}),
    ("I'm thinking of getting this camera for my trip next month.", {"purchase_intent"}),
]


@pytest.fixture(scope="module")
def classifier():
    from sentiment.model import load_classifier
    return load_classifier({})


def test_classify_prints_categories_and_aspects_on_each_line(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(text for text, _ in CLEAR) + "\n", encoding="utf-8")
    result = kuchikomi("sentiment", "classify", "--input", path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(CLEAR)
    for (text, expected), line in zip(CLEAR, lines):
        names = [entry["name"] for entry in line["categories"]]
        assert expected <= set(names), (text, line["categories"])
        scores = [entry["score"] for entry in line["categories"]]
        assert scores == sorted(scores, reverse=True) and all(0 < score <= 1 for score in scores)
        for aspect in line["aspects"]:
            assert set(aspect) == {"category", "sentiment", "sentence"}
            assert aspect["sentence"] in text and aspect["sentiment"] in ("negative", "neutral", "positive")
        assert {aspect["category"] for aspect in line["aspects"]} & expected
        assert set(line["scores"]) == {"negative", "neutral", "positive"}  # the sentiment keys stay
    assert lines[0]["label"] == "negative"


@pytest.mark.parametrize("review, blamed, praised", [
    ("The battery is awful and dies before lunch. The sound is amazing, I love it.",
     "The battery is awful and dies before lunch.", "The sound is amazing, I love it."),
    ("バッテリーの持ちは最悪。でも音質は最高で、とても気に入っています。",
     "バッテリーの持ちは最悪。", "でも音質は最高で、とても気に入っています。"),
])
def test_aspects_carry_each_sentences_own_sentiment(classifier, review, blamed, praised):
    [result] = classifier.classify([review])
    by_sentence = {}
    for aspect in result["aspects"]:
        by_sentence.setdefault(aspect["sentence"], {})[aspect["category"]] = aspect["sentiment"]
    assert by_sentence[blamed]["complaint"] == "negative"
    assert by_sentence[praised]["praise"] == "positive"
    assert "complaint" not in by_sentence[praised]


def test_nothing_to_categorise_gives_empty_lists(classifier):
    [result] = classifier.classify(["ok"])
    assert result["categories"] == [] and result["aspects"] == []


def test_custom_category_from_the_config_is_scored_and_changes_the_model_version(classifier, tmp_path):
    from sentiment.model import load_classifier
    config = tmp_path / "monitor.yaml"
    config.write_text("""
sources: [{name: s, start_urls: ["http://127.0.0.1:9/"]}]
categories:
  custom:
    - name: battery
      languages: [ja, en]
      examples: {en: ["The battery is dead by noon.", "Battery life is short."], ja: ["電池の持ちが悪い。"]}
      keywords: {en: [battery], ja: [電池, バッテリー]}
""", encoding="utf-8")
    listing = kuchikomi("categories", "list", "--config", str(config))
    assert listing.returncode == 0, listing.stderr
    assert "battery" in listing.stdout and "ja, en" in listing.stdout and "complaint" in listing.stdout
    from kuchikomi.config import load_monitor
    custom = load_classifier(load_monitor(config).sentiment)
    [result] = custom.classify(["The battery barely lasts half a day."])
    assert "battery" in [entry["name"] for entry in result["categories"]]
    assert custom.version != classifier.version
    assert custom.version.split("+")[0] == classifier.version.split("+")[0]  # the sentiment head is the same
    [chinese] = custom.classify(["电池太不耐用了，半天就没电。"])  # battery is for ja and en only
    assert "battery" not in [entry["name"] for entry in chinese["categories"]]


@pytest.mark.parametrize("section, message", [
    ("{custom: [{name: Battery, examples: {en: [x]}}]}", "categories.custom[0].name"),
    ("{custom: [{name: battery}]}", "'battery' is not a shipped category, so it needs examples"),
    ("{custom: [{name: battery, languages: [ja], examples: {en: [Dead by noon.]}}]}",
     "categories.custom[0].examples: written in en, but the category's languages are ja"),
    ("{custom: [{name: battery, keywords: {en: [x]}}, {name: battery, keywords: {en: [y]}}]}",
     "categories.custom[1].name: 'battery' is defined twice"),
    ("{custom: [{name: battery, keywords: {en: [x]}, threshold: 1.5}]}", "categories.custom[0].threshold"),
    ("{defaults: yes please}", "categories.defaults"),
])
def test_config_errors_name_the_file_the_field_and_the_fix(tmp_path, section, message):
    config = tmp_path / "monitor.yaml"
    config.write_text(f'sources: [{{name: s, start_urls: ["http://127.0.0.1:9/"]}}]\ncategories: {section}\n')
    result = kuchikomi("config", "check", str(config))
    assert result.returncode == 2
    assert str(config) in result.stderr and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_categories_need_the_encoder_and_head_model(tmp_path):
    directory = tiny_classifier_dir(tmp_path, ["negative", "positive"])
    data = tmp_path / "eval_en.tsv"
    data.write_text("categories\ttext\nquestion\tDoes it work?\n", encoding="utf-8")
    result = kuchikomi("categories", "eval", "--data", str(data), "--model", str(directory))
    assert result.returncode == 2
    assert "categories need the encoder+head model" in result.stderr and "Traceback" not in result.stderr


def test_eval_prints_scores_per_category_and_language_and_gates_on_floors(tmp_path):
    data = tmp_path / "eval_mixed.tsv"
    data.write_text("categories\ttext\n" + "".join(f"{','.join(sorted(names))}\t{text}\n" for text, names in CLEAR)
                    + "\tスマホケースです。普通に使えます。\n", encoding="utf-8")
    floors = tmp_path / "floors.json"
    floors.write_text(json.dumps({"all": {"micro_recall": 0.5}}))
    scores = tmp_path / "scores.json"
    passed = kuchikomi("categories", "eval", "--data", str(data), "--floors", str(floors), "--json", str(scores))
    assert passed.returncode == 0, passed.stderr
    assert "question" in passed.stdout and "micro precision" in passed.stdout and "macro F1" in passed.stdout
    report = json.loads(scores.read_text())
    assert {"ja", "zh", "en", "all"} == set(report)  # the language of each row is told by its text
    assert report["all"]["categories"]["question"]["recall"] == 1.0
    floors.write_text(json.dumps({"all": {"micro_f1": 1.01}, "ja": {"question_f1": 1.01}}))
    failed = kuchikomi("categories", "eval", "--data", str(data), "--floors", str(floors))
    assert failed.returncode == 1
    assert "FLOOR: all: micro_f1" in failed.stderr and "FLOOR: ja: question_f1" in failed.stderr

    data.write_text("categories\ttext\nbattery\tDead by noon.\n", encoding="utf-8")
    unknown = kuchikomi("categories", "eval", "--data", str(data))
    assert unknown.returncode == 2 and f"{data}:2: unknown category 'battery'" in unknown.stderr


@pytest.mark.slow
def test_eval_gate_on_the_written_held_out_set():
    """The CI gate: the shipped held-out eval_*.tsv against the pinned floors."""
    from sentiment.categories import CATEGORY_DATA
    assert sorted(CATEGORY_DATA.glob("eval_*.tsv")), "the written held-out sets are missing"
    result = kuchikomi("categories", "eval", "--floors", str(ROOT / "sentiment" / "category_floors.json"))
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
def test_a_correction_rewrites_the_reviews_categories_is_kept_and_trains_the_heads(tmp_path, es_url, index_prefix,
                                                                                 webhook, kuchikomi_home):
    with StaticSite(DEMO_SITE) as site:
        config = monitor_config(tmp_path, site.url, es_url, index_prefix, webhook.url)
        assert crawl(config).returncode == 0
        docs = stored(es_url, index_prefix)
        assert all(isinstance(doc["categories"], list) and isinstance(doc["aspects"], list) for doc in docs.values())
        assert any(doc["categories"] for doc in docs.values())
        # One the training keeps (not in its held-out share), so the heads learn from it.
        doc_id, doc = next((doc_id, doc) for doc_id, doc in docs.items()
                           if doc["categories"] and not is_held_out(review_text(doc)))
        model_categories = [entry["name"] for entry in doc["categories"]]

        result = kuchikomi("categories", "correct", doc_id, "--add", "purchase_intent", "--remove",
                           model_categories[0], "--config", str(config), "--by", "sales")
        assert result.returncode == 0, result.stderr[-3000:]
        expected = [name for name in model_categories[1:] if name != "purchase_intent"] + ["purchase_intent"]
        assert f"-> {', '.join(expected)}" in result.stdout
        corrected = stored(es_url, index_prefix)[doc_id]["categories"]
        assert corrected == [{"name": name, "score": 1.0, "corrected": True} for name in expected]
        wrong = kuchikomi("categories", "correct", doc_id, "--add", "nonsense", "--config", str(config))
        assert wrong.returncode == 2 and "'nonsense' is not a category here" in wrong.stderr

        # A re-crawl classifies the review again; the team's categories stay.
        again = crawl(config, None, "--refresh")
        assert again.returncode == 0, again.stderr[-3000:]
        assert stored(es_url, index_prefix)[doc_id]["categories"] == corrected

    # A sentiment correction of the same review keeps its category correction (one document holds both).
    assert kuchikomi("sentiment", "correct", doc_id, "negative", "--config", str(config)).returncode == 0
    from elasticsearch import Elasticsearch

    from index.storage.client import corrections_index
    kept = Elasticsearch([es_url]).get(index=corrections_index({"index_prefix": index_prefix}), id=doc_id)["_source"]
    assert kept["label"] == "negative" and kept["categories"] == expected and kept["categories_corrected_by"] == "sales"

    before = json.loads(kuchikomi("sentiment", "classify", input="ok\n").stdout)["model_version"]
    train = kuchikomi("sentiment", "train", "--config", str(config))
    assert "category heads: " in train.stdout, train.stdout + train.stderr[-3000:]
    after = json.loads(kuchikomi("sentiment", "classify", input="ok\n").stdout)["model_version"]
    assert after != before and after.split("+")[1] in train.stdout
