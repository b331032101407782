"""The weights fingerprint of a local checkpoint: what changes it, what does not, what it reads."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from safetensors.numpy import save_file

from qwen3_vl_rag.core import checkpoint
from qwen3_vl_rag.core.checkpoint import checkpoint_folder, weights_fingerprint


def _tensors(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"layers.{i}.weight": rng.normal(size=(32, 48)).astype(np.float32) for i in range(6)} | {
        "norm.weight": np.ones(48, np.float32), "tiny.bias": np.zeros(2, np.float32)}


def _save(folder, tensors, name="model.safetensors", metadata=None):
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / name), metadata=metadata)
    return folder


def test_the_same_weights_give_the_same_fingerprint_whatever_the_folder_or_metadata(tmp_path):
    a = weights_fingerprint(_save(tmp_path / "runA" / "checkpoint-1000", _tensors()))
    b = weights_fingerprint(_save(tmp_path / "elsewhere", _tensors(), metadata={"format": "pt", "saved": "today"}))
    assert a == b and a.startswith("w1:") and len(a) == 3 + 32
    extra = tmp_path / "runA" / "checkpoint-1000"
    for artefact in ("optimizer.pt", "training_args.bin", "rng_state.pth"):
        (extra / artefact).write_bytes(b"training state, not weights")
    assert weights_fingerprint(extra) == a


@pytest.mark.parametrize("change", ["other-run", "one-tensor-trained", "last-value", "renamed", "dtype", "shape"])
def test_different_weights_give_different_fingerprints(tmp_path, change):
    tensors = _tensors()
    base = weights_fingerprint(_save(tmp_path / "base", tensors))
    changed = {k: v.copy() for k, v in tensors.items()}
    if change == "other-run":
        changed = _tensors(seed=1)
    elif change == "one-tensor-trained":  # a partial fine-tune: one tensor of eight moved a little
        changed["layers.3.weight"] += np.float32(1e-3)
    elif change == "last-value":
        changed["layers.5.weight"][-1, -1] += 1
    elif change == "renamed":
        changed["layers.9.weight"] = changed.pop("layers.0.weight")
    elif change == "dtype":
        changed["layers.0.weight"] = changed["layers.0.weight"].astype(np.float16)
    elif change == "shape":
        changed["layers.0.weight"] = changed["layers.0.weight"].reshape(48, 32)
    assert weights_fingerprint(_save(tmp_path / "changed", changed)) != base


def test_reads_a_few_bytes_per_tensor_not_the_files(tmp_path, monkeypatch):
    folder = _save(tmp_path / "m", _tensors())
    reads = []
    read = checkpoint._read
    monkeypatch.setattr(checkpoint, "_read", lambda h, o, n: (reads.append(n), read(h, o, n))[1])
    weights_fingerprint(folder)
    header = reads[1]
    assert len(reads) == 2 + 7 * checkpoint.SAMPLES + 1  # length, header, 4 per tensor, 1 for the 8-byte one
    assert sum(reads) - 8 - header == 7 * checkpoint.SAMPLES * checkpoint.SAMPLE_BYTES + 8


def test_folders_without_safetensors(tmp_path):
    assert weights_fingerprint(tmp_path) is None
    rng = np.random.default_rng(0)
    (tmp_path / "pytorch_model.bin").write_bytes(rng.bytes(3_000_000))
    first = weights_fingerprint(tmp_path)
    data = bytearray((tmp_path / "pytorch_model.bin").read_bytes())
    data[-100] ^= 1  # a zip's directory (CRC-32 of every tensor) is at the end
    (tmp_path / "pytorch_model.bin").write_bytes(bytes(data))
    assert first is not None and weights_fingerprint(tmp_path) != first
    (tmp_path / "broken.safetensors").write_bytes(b"\xff" * 64)  # not parseable: sampled like any file
    assert weights_fingerprint(tmp_path) is not None


def test_checkpoint_folder_finds_directories_and_hub_snapshots(tmp_path):
    assert checkpoint_folder(str(tmp_path)) == tmp_path
    snapshot = tmp_path / "cache" / "models--acme--m" / "snapshots" / ("a" * 40)
    shutil.copytree(_save(tmp_path / "src", _tensors()), snapshot)
    (snapshot / "config.json").write_text("{}")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("a" * 40)
    assert checkpoint_folder("acme/m", {"cache_dir": str(tmp_path / "cache")}) == snapshot
    assert checkpoint_folder("acme/m", {"cache_dir": str(tmp_path / "cache"), "revision": "b" * 40}) is None
    assert checkpoint_folder("acme/not-downloaded", {"cache_dir": str(tmp_path / "cache")}) is None
    assert checkpoint_folder("not a repo id / nor a folder") is None
