"""Which vector space an embedder writes into, and a guard against mixing two spaces.

Vectors are comparable only when the same model produced them with the same prompt format and the same
number of dimensions. A local Qwen3-VL-Embedding-8B and the same model behind vLLM's chat form share a
space; Qwen3-VL-Embedding-8B and Qwen3-Embedding-8B (both 4096-d) do not, nor do 4096-d and 1024-d
Matryoshka cuts of one model. ``check_same_space`` raises ``EmbeddingSpaceMismatch`` for those; record
``identity.to_dict()`` with stored vectors and check it before adding or querying.

"The same model": a local model's identity carries ``weights``, a fingerprint of the checkpoint it
loaded (``core.checkpoint``), so two fine-tuned checkpoints in folders of the same name never match, and
the same weights match wherever they lie (a local copy of a hub model and the hub id). Where one side has
no fingerprint (a served model, known by its name; a record stored before fingerprints existed) the
model names decide, as they always did.

The vectors' ``precision`` (``core.precision``: float32, float16, int8, uint8, binary, ubinary) is part of
the space: codes of two precisions are never comparable, nor int8 / uint8 codes made with two different
calibration ranges (``ranges_fingerprint``). ``embedder.identity`` describes its float32 output; a call with
``precision=`` writes into ``embedder.identity.with_precision(...)`` with the same arguments. ``dimension``
is always the number of float values before packing (a 1024-d binary vector is stored in 128 bytes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from .errors import EmbeddingSpaceMismatch
from .precision import FLOAT_PRECISIONS, PRECISIONS, VectorPrecision, check_precision_name

MODALITIES = ("text", "image", "video")


def model_key(name: str) -> str:
    """A model's name without organisation or directory: ``Qwen/Qwen3-VL-Embedding-8B`` and
    ``/models/Qwen3-VL-Embedding-8B/`` both give ``qwen3-vl-embedding-8b``."""
    text = str(name).rstrip("/\\").replace("\\", "/")
    return PurePosixPath(text).name.lower() or text.lower()


@dataclass(frozen=True)
class EmbeddingIdentity:
    """The vector space of an embedder: ``model`` (see ``model_key``), ``dimension``, the input
    ``modalities`` it accepts, its ``prompt_format`` (``qwen3-vl-chat`` or ``qwen3-embedding``) and, for a
    local model, ``weights``: the fingerprint of the checkpoint it loaded (``None`` for a served model);
    the vectors' ``precision`` and, for int8 / uint8, the ``ranges_fingerprint`` of their calibration ranges."""

    model: str
    dimension: int
    modalities: frozenset[str] = frozenset({"text"})
    prompt_format: str = "qwen3-vl-chat"
    weights: str | None = None
    precision: str = "float32"
    ranges_fingerprint: str | None = None

    def __post_init__(self) -> None:
        check_precision_name(self.precision)
        if (self.ranges_fingerprint is None) != (self.precision not in ("int8", "uint8")):
            raise ValueError(f"an identity of precision {self.precision!r} "
                             + ("needs the fingerprint of its calibration ranges (ranges_fingerprint)"
                                if self.ranges_fingerprint is None else "has no calibration ranges"))

    @property
    def accepts_images(self) -> bool:
        return "image" in self.modalities

    @property
    def accepts_video(self) -> bool:
        return "video" in self.modalities

    @property
    def space(self) -> tuple[str, str, int]:
        """The model's name key, the prompt format and the dimension (see ``differences`` for the rule)."""
        return (model_key(self.model), self.prompt_format, int(self.dimension))

    def differences(self, other: EmbeddingIdentity) -> list[str]:
        """What keeps ``other``'s vectors from being comparable with these (empty: the same space).

        Prompt format and dimension must be equal (modalities need not be). The weights fingerprints
        decide when both sides have one; otherwise the model names do.
        """
        found = []
        if self.weights is not None and other.weights is not None:
            if self.weights != other.weights:
                found.append("weights")
        elif model_key(self.model) != model_key(other.model):
            found.append("model")
        if self.prompt_format != other.prompt_format:
            found.append("prompt format")
        if int(self.dimension) != int(other.dimension):
            found.append("dimension")
        if self.precision != other.precision:
            found.append("precision")
        elif self.ranges_fingerprint != other.ranges_fingerprint:
            found.append("precision ranges")
        return found

    def same_space(self, other: EmbeddingIdentity) -> bool:
        return not self.differences(other)

    def with_dimension(self, dimension: int) -> EmbeddingIdentity:
        return replace(self, dimension=int(dimension))

    def with_precision(self, precision: str | VectorPrecision = "float32", *, ranges: Any = None,
                       calibration_embeddings: Any = None) -> EmbeddingIdentity:
        """The identity of this embedder's vectors at ``precision`` (the arguments ``embed`` takes:
        int8 / uint8 with ``ranges`` or ``calibration_embeddings``, checked against ``dimension``); e.g.
        ``embedder.identity.with_dimension(256).with_precision("int8", ranges=r)``."""
        resolved = VectorPrecision.resolve(precision, ranges, calibration_embeddings, width=int(self.dimension))
        return replace(self, precision=resolved.name, ranges_fingerprint=resolved.fingerprint)

    @property
    def float_vectors(self) -> bool:
        """Whether the vectors are floats (float32 / float16), comparable by cosine or dot product as they are;
        int8 / uint8 / binary / ubinary codes are not (a store that holds float vectors must refuse them)."""
        return self.precision in FLOAT_PRECISIONS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, to store beside vectors (e.g. in a vector store's collection metadata). ``precision``
        is written only when it is not float32, so float32 records read as before."""
        data: dict[str, Any] = {"model": self.model, "dimension": int(self.dimension),
                                "modalities": sorted(self.modalities), "prompt_format": self.prompt_format}
        if self.weights is not None:
            data["weights"] = self.weights
        if self.precision != "float32":
            data["precision"] = self.precision
        if self.ranges_fingerprint is not None:
            data["ranges_fingerprint"] = self.ranges_fingerprint
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmbeddingIdentity:
        """The inverse of ``to_dict``; a record without ``weights`` (a served model, or stored before
        fingerprints existed) loads with ``weights=None`` and is matched by model name; one without
        ``precision`` is float32."""
        weights, ranges = data.get("weights"), data.get("ranges_fingerprint")
        return cls(model=str(data["model"]), dimension=int(data["dimension"]),
                   modalities=frozenset(data.get("modalities", ("text",))),
                   prompt_format=str(data.get("prompt_format", "qwen3-vl-chat")),
                   weights=None if weights is None else str(weights),
                   precision=str(data.get("precision", "float32")),
                   ranges_fingerprint=None if ranges is None else str(ranges))

    def __str__(self) -> str:
        weights = "" if self.weights is None else f", weights {self.weights}"
        precision = "" if self.precision == "float32" else f", {_precision_token(self)}"
        return f"{self.model} ({self.prompt_format}, {self.dimension}-d{weights}{precision})"


def _precision_token(identity: EmbeddingIdentity) -> str:
    """``int8/3f2a...`` (with the ranges' fingerprint), ``binary``, ...: in labels and messages."""
    if identity.ranges_fingerprint is None:
        return identity.precision
    return f"{identity.precision}/{identity.ranges_fingerprint}"


def identity_of(obj: Any) -> EmbeddingIdentity:
    """The identity of an embedder, an ``EmbeddingIdentity`` or its ``to_dict()`` form."""
    if isinstance(obj, EmbeddingIdentity):
        return obj
    if isinstance(obj, Mapping):
        return EmbeddingIdentity.from_dict(obj)
    identity = getattr(obj, "identity", None)
    if isinstance(identity, EmbeddingIdentity):
        return identity
    raise TypeError(f"{type(obj).__name__} has no embedding identity")


def check_same_space(a: Any, b: Any, *, what: str = "vectors") -> EmbeddingIdentity:
    """Raise ``EmbeddingSpaceMismatch`` unless ``a`` and ``b`` (embedders, identities or their dicts)
    write into the same vector space; return ``a``'s identity."""
    first, second = identity_of(a), identity_of(b)
    differences = first.differences(second)
    if differences:
        raise EmbeddingSpaceMismatch(
            f"cannot mix {what} from {first} with {what} from {second}: different "
            f"{' and '.join(differences)}; their similarities would be meaningless. Re-embed with one model.")
    return first


SPACE_METADATA_KEY = "embedding_space"  # the metadata key adapters stamp on what they embed


def space_label(identity: EmbeddingIdentity) -> str:
    """A JSON-friendly label of the space to store in document / node metadata:
    ``model|prompt_format|dimension``, plus ``|weights`` for a local model, plus ``|precision`` (with
    ``/ranges_fingerprint`` for int8 / uint8) when it is not float32."""
    model, prompt_format, dimension = identity.space
    label = f"{model}|{prompt_format}|{dimension}"
    label = label if identity.weights is None else f"{label}|{identity.weights}"
    return label if identity.precision == "float32" else f"{label}|{_precision_token(identity)}"


def identity_from_label(label: str) -> EmbeddingIdentity | None:
    """The identity a ``space_label`` describes (modalities unknown), or ``None`` if it is not one."""
    text, precision, fingerprint = str(label), "float32", ""
    head, _, last = text.rpartition("|")
    name, _, tail = last.partition("/")
    if head and name in PRECISIONS and name != "float32":
        text, precision, fingerprint = head, name, tail
    ranges = fingerprint or None
    try:
        parts = text.rsplit("|", 3)
        if len(parts) == 4 and parts[2].isdigit() and ":" in parts[3]:
            return EmbeddingIdentity(parts[0], int(parts[2]), prompt_format=parts[1], weights=parts[3],
                                     precision=precision, ranges_fingerprint=ranges)
        parts = text.rsplit("|", 2)
        if len(parts) == 3 and parts[2].isdigit():
            return EmbeddingIdentity(parts[0], int(parts[2]), prompt_format=parts[1], precision=precision,
                                     ranges_fingerprint=ranges)
    except ValueError:  # a precision token without (or with unexpected) ranges: not one of our labels
        return None
    return None


def same_space_labels(a: str, b: str) -> bool:
    """Whether two ``space_label`` stamps name one space (the rule of ``EmbeddingIdentity.differences``)."""
    first, second = identity_from_label(a), identity_from_label(b)
    if first is None or second is None:
        return str(a) == str(b)
    return first.same_space(second)


def check_documents_space(metadatas: Sequence[Mapping[str, Any] | None], what: str = "documents") -> None:
    """Raise ``EmbeddingSpaceMismatch`` when stamped documents (e.g. retrieved from one index) come from
    different vector spaces: their similarity scores were not comparable. Unstamped ones are ignored."""
    first: dict[str, int] = {}
    for index, metadata in enumerate(metadatas):
        label = (metadata or {}).get(SPACE_METADATA_KEY)
        if label is not None:
            first.setdefault(str(label), index)
    labels = list(first)
    if any(not same_space_labels(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]):
        listing = "; ".join(f"{label} (first at index {index})" for label, index in first.items())
        raise EmbeddingSpaceMismatch(
            f"the {what} were embedded in different vector spaces: {listing}. One index must hold one model's "
            "vectors; re-embed with one model.")
