"""The offline default sentiment model, through the CLI a user runs."""
import json
import subprocess
import sys

KUCHIKOMI = [sys.executable, "-m", "crawlers.cli"]

CLEAR_CASES = [
    ("Absolutely love these headphones, best purchase this year!", "positive"),
    ("Broke after three days and support never replied. Avoid.", "negative"),
    ("最悪です。一週間で壊れて返金もしてもらえません。", "negative"),
    ("とても使いやすくて大満足です。家族にもすすめました。", "positive"),
    ("质量太差了，用了两天就坏了，非常失望。", "negative"),
    ("非常好用，物流也快，五星好评！", "positive"),
]


def test_classify_prints_one_json_line_per_input_in_order(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(text for text, _ in CLEAR_CASES) + "\n", encoding="utf-8")
    result = subprocess.run([*KUCHIKOMI, "sentiment", "classify", "--input", str(path)],
                            capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["label"] for line in lines] == [label for _, label in CLEAR_CASES]
    for line in lines:
        assert set(line["scores"]) == {"negative", "neutral", "positive"}
        assert abs(sum(line["scores"].values()) - 1) < 0.01
        assert line["score"] == max(line["scores"].values())


def test_classify_reads_stdin():
    result = subprocess.run([*KUCHIKOMI, "sentiment", "classify"], input="Terrible, it broke.\n",
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout)["label"] == "negative"


def test_unreachable_hub_model_gives_one_clear_error():
    result = subprocess.run([*KUCHIKOMI, "sentiment", "classify", "--model", "no-such-org/no-such-model"],
                            input="x\n", capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1",
                                                                              **_env()})
    assert result.returncode == 2
    assert "no-such-org/no-such-model" in result.stderr and "sentiment.model" in result.stderr
    assert "Traceback" not in result.stderr


def _env():
    import os
    return {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}


def tiny_classifier_dir(tmp_path, labels):
    """A small local sequence-classification model, as a user's own directory would be."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from sentiment.default_model import encoder_dir
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64,
                        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    directory = tmp_path / "my-model"
    BertForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_local_sequence_classifier_with_label_map(tmp_path):
    from sentiment.model import load_classifier
    directory = tiny_classifier_dir(tmp_path, ["LABEL_0", "LABEL_1"])
    classifier = load_classifier({"model": str(directory),
                                  "label_map": {"LABEL_0": "negative", "LABEL_1": "positive"}})
    [result] = classifier.classify(["そこそこ良い"])
    assert result["scores"]["neutral"] == 0.0
    assert abs(result["scores"]["negative"] + result["scores"]["positive"] - 1) < 0.01
    assert result["model"] == str(directory)


def test_unmappable_labels_name_the_setting(tmp_path):
    import pytest

    from sentiment.model import SentimentModelError, load_classifier
    directory = tiny_classifier_dir(tmp_path, ["LABEL_0", "LABEL_1"])
    with pytest.raises(SentimentModelError, match="sentiment.label_map"):
        load_classifier({"model": str(directory)})
