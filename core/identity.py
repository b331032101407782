"""Which vector space an embedder writes into, and a guard against mixing two spaces.

Vectors are comparable only when the same model produced them with the same prompt format and the same
number of dimensions. A local Qwen3-VL-Embedding-8B and the same model behind vLLM's chat form share a
space; Qwen3-VL-Embedding-8B and Qwen3-Embedding-8B (both 4096-d) do not, nor do 4096-d and 1024-d
Matryoshka cuts of one model. ``check_same_space`` raises ``EmbeddingSpaceMismatch`` for those; record
``identity.to_dict()`` with stored vectors and check it before adding or querying.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from .errors import EmbeddingSpaceMismatch

MODALITIES = ("text", "image", "video")


def model_key(name: str) -> str:
    """A model's name without organisation or directory: ``Qwen/Qwen3-VL-Embedding-8B`` and
    ``/models/Qwen3-VL-Embedding-8B/`` both give ``qwen3-vl-embedding-8b``."""
    text = str(name).rstrip("/\\").replace("\\", "/")
    return PurePosixPath(text).name.lower() or text.lower()


@dataclass(frozen=True)
class EmbeddingIdentity:
    """The vector space of an embedder: ``model`` (see ``model_key``), ``dimension``, the input
    ``modalities`` it accepts and its ``prompt_format`` (``qwen3-vl-chat`` or ``qwen3-embedding``)."""

    model: str
    dimension: int
    modalities: frozenset[str] = frozenset({"text"})
    prompt_format: str = "qwen3-vl-chat"

    @property
    def accepts_images(self) -> bool:
        return "image" in self.modalities

    @property
    def accepts_video(self) -> bool:
        return "video" in self.modalities

    @property
    def space(self) -> tuple[str, str, int]:
        """What must be equal for two vectors to be comparable (modalities need not be)."""
        return (model_key(self.model), self.prompt_format, int(self.dimension))

    def with_dimension(self, dimension: int) -> EmbeddingIdentity:
        return EmbeddingIdentity(self.model, int(dimension), self.modalities, self.prompt_format)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, to store beside vectors (e.g. in a vector store's collection metadata)."""
        return {"model": self.model, "dimension": int(self.dimension),
                "modalities": sorted(self.modalities), "prompt_format": self.prompt_format}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmbeddingIdentity:
        return cls(model=str(data["model"]), dimension=int(data["dimension"]),
                   modalities=frozenset(data.get("modalities", ("text",))),
                   prompt_format=str(data.get("prompt_format", "qwen3-vl-chat")))

    def __str__(self) -> str:
        return f"{self.model} ({self.prompt_format}, {self.dimension}-d)"


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
    if first.space != second.space:
        differences = [name for name, x, y in zip(("model", "prompt format", "dimension"), first.space,
                                                  second.space) if x != y]
        raise EmbeddingSpaceMismatch(
            f"cannot mix {what} from {first} with {what} from {second}: different "
            f"{' and '.join(differences)}; their similarities would be meaningless. Re-embed with one model.")
    return first


SPACE_METADATA_KEY = "embedding_space"  # the metadata key adapters stamp on what they embed


def space_label(identity: EmbeddingIdentity) -> str:
    """A JSON-friendly label of ``identity.space`` to store in document / node metadata."""
    model, prompt_format, dimension = identity.space
    return f"{model}|{prompt_format}|{dimension}"


def check_documents_space(metadatas: Sequence[Mapping[str, Any] | None], what: str = "documents") -> None:
    """Raise ``EmbeddingSpaceMismatch`` when stamped documents (e.g. retrieved from one index) come from
    different vector spaces: their similarity scores were not comparable. Unstamped ones are ignored."""
    first: dict[str, int] = {}
    for index, metadata in enumerate(metadatas):
        label = (metadata or {}).get(SPACE_METADATA_KEY)
        if label is not None:
            first.setdefault(str(label), index)
    if len(first) > 1:
        listing = "; ".join(f"{label} (first at index {index})" for label, index in first.items())
        raise EmbeddingSpaceMismatch(
            f"the {what} were embedded in different vector spaces: {listing}. One index must hold one model's "
            "vectors; re-embed with one model.")
