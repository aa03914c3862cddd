"""The offline default sentiment model, through the CLI a user runs."""
import json
import subprocess
import time

import pytest

from tests.support.cli import SUBPROCESS, kuchikomi

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
    result = kuchikomi("sentiment", "classify", "--input", path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["label"] for line in lines] == [label for _, label in CLEAR_CASES]
    for line in lines:
        assert set(line["scores"]) == {"negative", "neutral", "positive"}
        assert abs(sum(line["scores"].values()) - 1) < 0.01
        assert line["score"] == max(line["scores"].values())


def test_classify_reads_stdin():
    result = kuchikomi("sentiment", "classify", input="Terrible, it broke.\n")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"] == "negative"


def test_unreachable_hub_model_gives_one_clear_error():
    # a new interpreter, so the hub client reads HF_HUB_OFFLINE as this test sets it
    result = subprocess.run([*SUBPROCESS, "sentiment", "classify", "--model", "no-such-org/no-such-model"],
                            input="x\n", capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", **_env()})
    assert result.returncode == 2
    assert "no-such-org/no-such-model" in result.stderr and "sentiment.model" in result.stderr
    assert "Traceback" not in result.stderr


def _env():
    import os
    return {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}


def tiny_classifier_dir(tmp_path, labels, bias=None):
    """A small local sequence-classification model, as a user's own directory would be; `bias` (one
    number per label) fixes which label its random weights lean to."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from sentiment.model_store import encoder_dir
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64,
                        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    directory = tmp_path / "my-model"
    model = BertForSequenceClassification(config)
    if bias is not None:
        with torch.no_grad():
            model.classifier.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    model.save_pretrained(directory)
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
    from sentiment.model import SentimentModelError, load_classifier
    directory = tiny_classifier_dir(tmp_path, ["LABEL_0", "LABEL_1"])
    with pytest.raises(SentimentModelError, match="sentiment.label_map"):
        load_classifier({"model": str(directory)})


@pytest.fixture(scope="module")
def default_classifier():
    from sentiment.model import load_classifier
    return load_classifier({})


def test_long_review_is_split_into_chunks_at_sentence_ends(default_classifier):
    from sentiment.model import sentence_spans
    complaint = "The hotel room was dirty and the staff ignored every request we made. " * 30
    chunk_spans = default_classifier.chunks(complaint)
    assert len(chunk_spans) >= 2
    assert chunk_spans[0][0] == 0 and chunk_spans[-1][1] == len(complaint)
    assert all(a[1] == b[0] for a, b in zip(chunk_spans, chunk_spans[1:]))  # nothing lost between chunks
    sentence_ends = {end for _, end in sentence_spans(complaint)}
    for start, end in chunk_spans:
        assert end in sentence_ends | {len(complaint)}
        tokens = default_classifier.tokenizer(complaint[start:end], add_special_tokens=False)["input_ids"]
        assert len(tokens) <= default_classifier.chunk_tokens
    [result] = default_classifier.classify([complaint])
    assert result["chunks"] == len(chunk_spans) and result["label"] == "negative"


def test_long_review_label_comes_from_all_of_it_not_its_opening(default_classifier):
    opening = "The packaging was lovely and delivery was quick. "
    complaint = "It stopped working after a week and the refund was refused. " * 40
    [whole] = default_classifier.classify([opening * 3 + complaint])
    assert whole["chunks"] >= 2 and whole["label"] == "negative"


def test_a_1_mb_review_is_classified_by_its_first_and_last_chunks_only(default_classifier):
    from sentiment.model import HEAD_CHUNKS, TAIL_CHUNKS
    opening = "It arrived broken and the seller refused a refund. "
    middle = "I love it, perfect in every way. " * 30_000  # about 1 MB of praise that is neither end
    ending = "Worst purchase this year, the battery died within days. "
    text = opening * 200 + middle + ending * 60  # each end longer than its part of the cap
    started = time.monotonic()
    spans = default_classifier.chunks(text)
    assert time.monotonic() - started < 2  # the ends are tokenized, not the whole megabyte
    tokens = [len(default_classifier.tokenizer(text[a:b], add_special_tokens=False)["input_ids"]) for a, b in spans]
    size = default_classifier.chunk_tokens
    assert max(tokens) <= size and sum(tokens) <= (HEAD_CHUNKS + TAIL_CHUNKS) * size + len(spans)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    head_end = next(i for i, (a, b) in enumerate(zip(spans, spans[1:])) if a[1] != b[0])  # the middle is skipped
    assert spans[head_end][1] < len(text) // 100 and spans[head_end + 1][0] > len(text) * 99 // 100
    started = time.monotonic()
    [result] = default_classifier.classify([text])
    assert time.monotonic() - started < 60  # was over 7 minutes on two cores: 890 chunks
    assert result["label"] == "negative" and result["chunks"] == len(spans)  # the praise was not read
    assert result["drivers"] and all(sentence in (opening + ending) for sentence in result["drivers"])


def test_mixed_review_names_the_sentences_that_made_it_negative(default_classifier):
    texts = ["The screen is gorgeous and the speakers are fine. But the battery died after two days and "
             "support never answered. Total waste of money.",
             "デザインは素敵です。でも、一週間で壊れて返金もしてもらえません。サポートも最悪でした。"]
    english, japanese = default_classifier.classify(texts)
    assert english["label"] == "negative" and japanese["label"] == "negative"
    assert any("battery died" in sentence for sentence in english["drivers"])
    assert not any("gorgeous" in sentence for sentence in english["drivers"])
    assert japanese["drivers"] and not any("素敵" in sentence for sentence in japanese["drivers"])
    [praise] = default_classifier.classify(["Great sound. Comfortable for hours."])
    assert "drivers" not in praise


def test_every_result_names_model_and_version(default_classifier):
    from sentiment.model_store import current_model_dir
    [result] = default_classifier.classify(["ok"])
    meta = json.loads((current_model_dir() / "head.json").read_text())
    head_version, categories_version = result["model_version"].split("+")
    assert result["model"] == meta["name"] and head_version == meta["version"]
    assert categories_version == default_classifier.categories.version


def test_bf16_and_fp32_agree_on_clear_cases():
    from sentiment.model import load_classifier
    texts = [text for text, _ in CLEAR_CASES]
    fp32 = [r["label"] for r in load_classifier({"precision": "fp32"}).classify(texts)]
    bf16 = [r["label"] for r in load_classifier({"precision": "bf16"}).classify(texts)]
    assert fp32 == bf16 == [label for _, label in CLEAR_CASES]


@pytest.mark.parametrize("device, message", [("gpu", "sentiment.device must be"),
                                             ("cuda:0", "no CUDA GPU is available")])
def test_device_setting_errors_are_clear(device, message):
    import torch

    from sentiment.model import SentimentModelError, load_classifier
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(SentimentModelError, match=message):
        load_classifier({"device": device})


def test_sequence_classifier_names_drivers_by_classifying_sentences(tmp_path):
    from sentiment.model import load_classifier
    directory = tiny_classifier_dir(tmp_path, ["negative", "positive"], bias=[8.0, -8.0])
    classifier = load_classifier({"model": str(directory)})
    texts = [f"Sentence {i} about the product. It is a thing {i}. Another remark {i}." for i in range(20)]
    results = classifier.classify(texts)
    assert [result["label"] for result in results] == ["negative"] * len(texts)
    for text, result in zip(texts, results):
        assert result["model_version"]
        assert result["drivers"] and all(sentence in text for sentence in result["drivers"])
