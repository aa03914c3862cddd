"""Fine-tune the encoder's top layers and the sentiment head on the team's labelled data
(`kuchikomi sentiment train --fine-tune`).

The team's rows, minus one in five held out by a hash of the text, plus as many of the written
examples, train the top `layers` encoder layers and the head together; the lower layers stay as they are. Texts are batched
by length (little padding) on the device the model runs on (a GPU with bfloat16 when present). The
model in use and the tuned one are scored on the held-out rows the way they classify; the tuned one
is switched to only if it is not worse. What it learned is a small safetensors file of the tuned layers
beside the head, loaded by HeadClassifier over the base encoder. The tuned head has no per-language
calibration: that was fitted to the head before tuning, and the tuned head learned the team's labels.
"""
from __future__ import annotations

import copy
import random
import time
from datetime import datetime, timezone

from sentiment.calibration import Calibration
from sentiment.datasets import Row
from sentiment.default_model import embed_all
from sentiment.model import LABELS, HeadClassifier
from sentiment.model_store import save_head, trained_models_dir
from sentiment.training import (TrainingError, accuracy, new_version, row_languages, split_held_out, switch_to,
                                training_set)

TUNED_FILE = "tuned_layers.safetensors"
# Tokens of a text trained on: most reviews fit; the cost of a batch grows with its longest text.
TRAIN_MAX_TOKENS = 256
# Measured on 2 CPU cores: 16 keeps a step about a second for short reviews; a GPU takes far more.
BATCH_SIZE = {"cpu": 16, "cuda": 64}
ENCODER_RATE, HEAD_RATE = 3e-5, 1e-3
SEED = 0


def length_batches(tokenizer, texts: list[str], batch_size: int) -> list[list[int]]:
    """Indices of texts in batches of similar token length."""
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=TRAIN_MAX_TOKENS)["input_ids"]]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def held_out_logits(classifier: HeadClassifier, encoder, weight, bias, texts: list[str]):
    """Logits of `texts` as `classifier` would compute them with this encoder and head."""
    in_use = classifier.encoder
    classifier.encoder = encoder
    try:
        return embed_all(classifier, texts) @ weight.cpu().T + bias.cpu()
    finally:
        classifier.encoder = in_use


def fine_tune(classifier, rows: list[Row], layers: int = 4, epochs: int = 2, batch_size: int | None = None,
              log=print, progress: bool = True) -> dict:
    """Tune, compare on the held-out rows, switch if not worse; a summary dict."""
    if not isinstance(classifier, HeadClassifier):
        raise TrainingError(f"`sentiment train --fine-tune` tunes an encoder+head model; {classifier.name!r} is a "
                            "sequence-classification model (fine-tune it with transformers instead)")
    depth = classifier.encoder.config.num_hidden_layers
    if not 1 <= layers <= depth:
        raise TrainingError(f"--layers must be between 1 and {depth} (the encoder's layers), not {layers}")
    if epochs < 1:
        raise TrainingError(f"--epochs must be at least 1, not {epochs}")
    from tqdm import tqdm
    torch = classifier.torch
    training, held_out = split_held_out(rows)
    # As many written examples as the team's own, so the tuned model keeps what they teach in bounded time.
    texts, targets, _ = training_set(training, written_limit=len(training))
    held_texts, held_targets = [row.text for row in held_out], [LABELS.index(row.label) for row in held_out]
    held_languages = row_languages(held_out)
    started = time.monotonic()
    log(f"held-out accuracy of the model in use on {len(held_out)} examples...")
    before = accuracy(held_out_logits(classifier, classifier.encoder, classifier.weight, classifier.bias, held_texts),
                      held_targets, classifier.calibration, held_languages)

    device = classifier.device
    on_gpu = device.startswith("cuda")
    encoder = copy.deepcopy(classifier.encoder).float()
    previously = set(classifier.meta.get("tuned_layers", {}).get("layers", []))
    tuned = list(range(depth - layers, depth))
    trainable = tuple(f"encoder.layer.{i}." for i in tuned)
    parameters = []
    for name, parameter in encoder.named_parameters():
        parameter.requires_grad = name.startswith(trainable)
        if parameter.requires_grad:
            parameters.append(parameter)
    weight = torch.nn.Parameter(classifier.weight.detach().clone().float())
    bias = torch.nn.Parameter(classifier.bias.detach().clone().float())
    optimiser = torch.optim.AdamW([{"params": parameters, "lr": ENCODER_RATE},
                                   {"params": [weight, bias], "lr": HEAD_RATE, "weight_decay": 0.0}])
    batches = length_batches(classifier.tokenizer, texts, batch_size or BATCH_SIZE["cuda" if on_gpu else "cpu"])
    steps = epochs * len(batches)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 1 - step / steps)
    bf16 = on_gpu and torch.cuda.is_bf16_supported()
    torch.manual_seed(SEED)
    shuffle = random.Random(SEED)
    encoder.eval()  # dropout in the tuned layers only
    for i in tuned:
        encoder.encoder.layer[i].train()
    log(f"fine-tuning the top {layers} of {depth} encoder layers and the head on {len(texts)} examples "
        f"({len(batches)} batches x {epochs} epochs, {device})")
    with tqdm(total=steps, desc="fine-tuning", unit="batch", disable=not progress) as bar:
        for _ in range(epochs):
            for batch in shuffle.sample(batches, len(batches)):
                encoded = classifier.tokenizer([classifier.prefix + texts[i] for i in batch], padding=True,
                                               truncation=True, max_length=TRAIN_MAX_TOKENS,
                                               return_tensors="pt").to(device)
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=bf16):
                    hidden = encoder(**encoded).last_hidden_state.float()
                mask = encoded["attention_mask"].unsqueeze(-1).float()
                pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1), dim=-1)
                loss = torch.nn.functional.cross_entropy(pooled @ weight.T + bias,
                                                         torch.tensor([targets[i] for i in batch], device=device))
                loss.backward()
                optimiser.step()
                schedule.step()
                optimiser.zero_grad()
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
    encoder.eval()
    weight, bias = weight.detach(), bias.detach()
    saved = sorted(previously | set(tuned))
    prefixes = tuple(f"encoder.layer.{i}." for i in saved)
    state = {name: tensor.detach().cpu().clone() for name, tensor in encoder.state_dict().items()
             if name.startswith(prefixes)}
    # Scored as it will run: in the classifier's precision, without a calibration.
    after = accuracy(held_out_logits(classifier, encoder.to(classifier.dtype), weight, bias, held_texts),
                     held_targets, Calibration(), held_languages)
    version = new_version(classifier.version, texts, targets, recipe=f"fine-tune:{layers}:{epochs}")
    summary = {"examples": len(rows), "trained_on": len(texts), "held_out": len(held_out),
               "accuracy_before": before, "accuracy_after": after, "model_before": classifier.version,
               "model_after": version, "switched": after >= before, "layers": layers, "epochs": epochs,
               "device": device, "seconds": round(time.monotonic() - started, 1)}
    if summary["switched"]:
        meta = {**classifier.meta, "version": version, "trained_at": datetime.now(timezone.utc).isoformat(),
                "trained_on": f"{len(texts) - len(training)} written examples plus {len(training)} corrections and "
                              f"team-labelled examples (top {layers} encoder layers fine-tuned, {epochs} epochs)",
                "held_out_accuracy": after, "previous_version": classifier.version,
                "tuned_layers": {"file": TUNED_FILE, "layers": saved}, "calibration": {}}
        directory = save_head(trained_models_dir() / f"{meta['name']}-{version}", meta, weight.cpu(), bias.cpu(),
                              {TUNED_FILE: state})
        switch_to(directory)
        summary["directory"] = str(directory)
    return summary
