"""A cheap fingerprint of the weights a local model loaded, for its embedding identity.

Two checkpoints in folders of the same name (``runA/checkpoint-1000``, ``runB/checkpoint-1000``) write
into different vector spaces, so a local model's identity carries ``weights_fingerprint`` of its folder
(a hub model: its snapshot in the Hugging Face cache, i.e. the repo id at the loaded revision). Hashing
whole files would read 16 GB for an 8B model; instead the fingerprint covers, per ``*.safetensors`` file,
its name, data size and header (every tensor's name, dtype, shape and byte range; the free-form
``__metadata__`` is left out) plus ``SAMPLES`` ranges of ``SAMPLE_BYTES`` spread over every tensor's data
(first and last values included). Training updates every element of a trained tensor, so two checkpoints
of one run, of two runs, or a partial fine-tune (any tensor changed) differ in their sampled bytes; the
same weights copied anywhere (a local copy of a hub model) give the same fingerprint. It is not a hash
of every byte: weights that differ only between the sampled ranges (a hand edit, not training) share one.
Cost: one header read and ``4 x tensors`` reads of 16 bytes per file (Qwen3-VL-Embedding-8B: 4 files,
16 GB, ~750 tensors, ~3,000 reads of 48 KB in all; 60-110 ms measured from the page cache, where a
just-loaded model is; ~0.3 s by arithmetic from a cold NVMe disk). Folders without safetensors fall back to
``pytorch_model*.bin`` files, fingerprinted by size, their first and last MiB (a zip's directory, with
the CRC-32 of every tensor) and evenly spaced samples.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

SCHEME = "w1"  # bump when what is hashed changes: fingerprints of two schemes never compare equal
SAMPLES = 4
SAMPLE_BYTES = 16
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors format's own limit
BIN_EDGE_BYTES = 1024 * 1024
BIN_SAMPLES = 256


def checkpoint_folder(model_name_or_path: str, hub_kwargs: Mapping[str, Any] | None = None) -> Path | None:
    """The folder a model was loaded from: the directory itself, or the hub snapshot in the local cache
    (``cache_dir`` / ``revision`` as given to ``from_pretrained``); ``None`` when neither is found."""
    path = Path(os.path.expanduser(str(model_name_or_path)))
    if path.is_dir():
        return path
    kwargs = dict(hub_kwargs or {})
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(str(model_name_or_path), "config.json", cache_dir=kwargs.get("cache_dir"),
                                       revision=kwargs.get("revision"))
    except Exception:  # not a repo id, or no cache: no fingerprint, the identity falls back to the name
        return None
    return Path(found).parent if isinstance(found, str) else None


def weights_fingerprint(folder: str | os.PathLike[str]) -> str | None:
    """``w1:<32 hex>`` for the weight files in ``folder`` (see the module docstring), ``None`` if it has none."""
    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if not files:
        return None
    digest = hashlib.blake2b(digest_size=16)
    for file in files:
        digest.update(file.name.encode("utf-8", "surrogateescape") + b"\0")
        with open(file, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if not (file.suffix == ".safetensors" and _safetensors(handle, size, digest)):
                _sampled(handle, size, digest)
    return f"{SCHEME}:{digest.hexdigest()}"


def _safetensors(handle: BinaryIO, size: int, digest: Any) -> bool:
    """Hash the header and sampled tensor bytes; ``False`` if the file is not a valid safetensors file."""
    if size < 8:
        return False
    (length,) = struct.unpack("<Q", _read(handle, 0, 8))
    if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
        return False
    try:
        header = json.loads(_read(handle, 8, length))
        tensors = {name: (str(t["dtype"]), [int(d) for d in t["shape"]], [int(o) for o in t["data_offsets"]])
                   for name, t in header.items() if name != "__metadata__"}
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
    if any(len(offsets) != 2 for _, _, offsets in tensors.values()):
        return False
    base = 8 + length
    digest.update(struct.pack("<Q", size - base) + json.dumps(tensors, sort_keys=True).encode())
    for _, _, (begin, end) in sorted(tensors.values(), key=lambda t: t[2]):
        for offset, count in _ranges(begin, end):
            digest.update(_read(handle, base + offset, count))
    return True


def _read(handle: BinaryIO, offset: int, count: int) -> bytes:
    handle.seek(offset)
    return handle.read(count)


def _ranges(begin: int, end: int) -> list[tuple[int, int]]:
    """``SAMPLES`` ranges of ``SAMPLE_BYTES`` spread over [begin, end), first and last included."""
    length = end - begin
    if length <= SAMPLES * SAMPLE_BYTES:
        return [(begin, max(length, 0))]
    step = (length - SAMPLE_BYTES) / (SAMPLES - 1)
    return [(begin + round(i * step), SAMPLE_BYTES) for i in range(SAMPLES)]


def _sampled(handle: BinaryIO, size: int, digest: Any) -> None:
    digest.update(struct.pack("<Q", size))
    edge = min(BIN_EDGE_BYTES, size)
    digest.update(_read(handle, 0, edge))
    digest.update(_read(handle, size - edge, edge))
    for i in range(BIN_SAMPLES):
        digest.update(_read(handle, (size * i) // BIN_SAMPLES, 64))
