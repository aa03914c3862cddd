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
