"""What both framework adapters need and core does not: default model ids and the rule for which
framework metadata keys carry an image or a video.

Both adapters (LlamaIndex nodes, LangChain documents) use these rules, so a document with an image
means the same thing in either framework.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from qwen3_vl_rag.core.inputs import VIDEO_FILE_SUFFIXES

DEFAULT_EMBEDDING_MODEL = "Qwen/Qwen3-VL-Embedding-2B"
DEFAULT_RERANK_MODEL = "Qwen/Qwen3-VL-Reranker-2B"
BOUNDARY_MODEL = "Qwen/Qwen3-Embedding-0.6B"  # the default semantic-chunking boundary model

IMAGE_METADATA_KEYS = ("image", "image_path", "image_url")  # base64 / data URI, path, URL
VIDEO_METADATA_KEYS = ("video", "video_path", "video_url")
IMAGE_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def _suffix(value: Any) -> str:
    return PurePath(str(value).split("?")[0]).suffix.lower()


def media_from_metadata(metadata: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """(image source or None, video source or None) named by ``metadata``.

    Explicit keys win (``image``, ``image_path``, ``image_url``; ``video``, ``video_path``,
    ``video_url``); ``file_path`` counts only when its extension is an image's or a video's, as
    LlamaIndex's image readers and ColPali rerankers set it.
    """
    metadata = metadata or {}
    image = next((metadata[k] for k in IMAGE_METADATA_KEYS if metadata.get(k)), None)
    video = next((metadata[k] for k in VIDEO_METADATA_KEYS if metadata.get(k)), None)
    file_path = metadata.get("file_path")
    if file_path and image is None and video is None:
        if _suffix(file_path) in IMAGE_FILE_SUFFIXES:
            image = str(file_path)
        elif _suffix(file_path) in VIDEO_FILE_SUFFIXES:
            video = str(file_path)
    return image, video


# -- PDF pages (Qwen3PDFReader / Qwen3PDFLoader documents) --------------------------------------------------
# The 1-based page a document stands for; the PDF is its ``file_path`` (LlamaIndex) or ``source`` (LangChain).
PDF_PAGE_METADATA_KEY = "pdf_page"


def page_from_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The core page item (``{"pdf": path, "page": n}``) a PDF-page document's metadata names, else None.

    Such a document is embedded and scored as the page image alone; its text (the text layer) is for the
    LLM and for keyword search."""
    metadata = metadata or {}
    page = metadata.get(PDF_PAGE_METADATA_KEY)
    path = metadata.get("file_path") or metadata.get("source")
    if page is None or not path:
        return None
    return {"pdf": str(path), "page": page}


def document_item(text: str | None, image: Any = None, video: Any = None) -> Any:
    """A plain string when there is no media, else a dict item with the text alongside."""
    if image is None and video is None:
        return text or ""
    item: dict[str, Any] = {}
    if text:
        item["text"] = text
    if image is not None:
        item["image"] = image
    if video is not None:
        item["video"] = video
    return item


# -- the add_images convention: an image stored as base64 text -------------------------------------------------
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n\r")


def base64_image(text: Any) -> str | None:
    """``text`` itself when it is an image encoded as base64 (``data:image/...;base64,...`` or bare base64 whose
    bytes start with an image file signature), else None.

    That is how LangChain's ``Chroma.add_images`` (and ``qwen3_vl_rag.integrations.langchain.add_images``)
    store an image in ``page_content``: such a document is an image, never 2,000 characters of text.
    """
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    if stripped.startswith("data:image/") and ";base64," in stripped[:64]:
        return stripped
    if len(stripped) < 100:  # the smallest real image files encode to more; short words never count
        return None
    head = stripped[:64]
    if not set(head) <= _BASE64_CHARS:
        return None
    import base64
    import binascii

    try:
        prefix = base64.b64decode(head[: len(head) // 4 * 4], validate=True)
    except (binascii.Error, ValueError):
        return None
    if prefix.startswith(_IMAGE_MAGIC) or (prefix[:4] == b"RIFF" and prefix[8:12] == b"WEBP"):
        return stripped
    return None


# -- arguments users copy from the anchors (HuggingFaceEmbedding(s), SentenceTransformerRerank, ...) ----------
# name an anchor uses -> the core model's keyword argument it means here
MODEL_ARGUMENTS = {
    "device": "device",
    "max_length": "max_length",
    "cache_folder": "cache_dir",
    "cache_dir": "cache_dir",
    "trust_remote_code": "trust_remote_code",
    "revision": "revision",
    "token": "token",
    "local_files_only": "local_files_only",
    "show_progress_bar": "show_progress",
    "show_progress": "show_progress",
}
# one name per concept across both adapters; the other frameworks' spellings are aliases
MODEL_KWARGS_ALIASES = {"embedder_kwargs": "model_kwargs", "reranker_kwargs": "model_kwargs"}
INSTRUCTION_ALIASES = {"text_instruction": "document_instruction"}
# LangChain SemanticChunker / LlamaIndex SemanticSplitterNodeParser spellings -> the semantic chunkers'
SEMANTIC_CHUNKER_ALIASES = {"breakpoint_threshold_type": "breakpoint_type",
                            "breakpoint_threshold_amount": "breakpoint_amount",
                            "embeddings": "embedder", "embed_model": "embedder"}


def take_model_arguments(owner: str, kwargs: dict[str, Any], *, instance: Any = None,
                         instance_name: str = "embedder") -> dict[str, Any]:
    """Fold the anchor-style loading arguments in ``kwargs`` (``device=``, ``max_length=``, ``cache_folder=``,
    ``trust_remote_code=``, ``show_progress_bar=``, ``normalize=``, ...) into ``kwargs["model_kwargs"]``
    (aliases ``embedder_kwargs`` / ``reranker_kwargs``); refused next to a ready ``instance``."""
    kwargs = rename_aliases(owner, kwargs, MODEL_KWARGS_ALIASES)
    check_normalize(kwargs.pop("normalize", None), owner)
    arguments = {name: kwargs.pop(name) for name in list(kwargs) if name in MODEL_ARGUMENTS}
    given = {k: v for k, v in arguments.items() if v is not None}
    if instance is not None:
        if given or kwargs.get("model_kwargs"):
            named = ", ".join(sorted([*given, *(["model_kwargs"] if kwargs.get("model_kwargs") else [])]))
            raise ValueError(f"{owner}: pass either {instance_name}= or loading arguments ({named}), not both: "
                             f"configure the {instance_name} you pass instead")
        return kwargs
    kwargs["model_kwargs"] = model_kwargs_with(kwargs.get("model_kwargs"), arguments, owner)
    return kwargs


def model_kwargs_with(model_kwargs: dict[str, Any] | None, arguments: dict[str, Any],
                      owner: str) -> dict[str, Any]:
    """``model_kwargs`` for the core model with the anchor-style ``arguments`` (``device=``, ``max_length=``,
    ``cache_folder=``, ...) folded in; None values are ignored; two spellings that disagree are refused."""
    merged = dict(model_kwargs or {})
    for name, value in arguments.items():
        if value is None:
            continue
        target = MODEL_ARGUMENTS[name]
        if target in merged and merged[target] != value:
            raise ValueError(f"{owner}: {name}={value!r} disagrees with model_kwargs[{target!r}]="
                             f"{merged[target]!r}; pass one of them")
        merged[target] = value
    if isinstance(merged.get("token"), str):  # a Hugging Face token: never printed (repr) nor serialised
        from pydantic import SecretStr

        merged["token"] = SecretStr(merged["token"])
    return merged


def core_kwargs(model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``model_kwargs`` as the core model takes them (a ``SecretStr`` token revealed only here)."""
    return {k: v.get_secret_value() if hasattr(v, "get_secret_value") else v for k, v in model_kwargs.items()}


def check_normalize(normalize: Any, owner: str) -> None:
    """Qwen3 embeddings are always unit vectors (cosine = dot product): only ``normalize=True`` is honoured."""
    if normalize is not None and normalize is not True:
        raise ValueError(f"{owner}: normalize={normalize!r} is not supported: Qwen3 embedding vectors are always "
                         "L2-normalised (what the models were trained for); drop the argument")


def refuse_unknown(owner: str, unknown: Any, accepted: Any, error: type[Exception] = TypeError) -> None:
    """A ``TypeError`` (or ``error``) naming the arguments ``owner`` accepts, for arguments it would otherwise drop."""
    unknown = sorted(unknown)
    if unknown:
        raise error(f"{owner} got unexpected argument(s) {', '.join(unknown)}; it accepts: "
                        f"{', '.join(sorted(accepted))}")


def rename_aliases(owner: str, kwargs: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """``kwargs`` with alias names replaced by the canonical ones (both given: refused)."""
    out = dict(kwargs)
    for alias, canonical in aliases.items():
        if alias in out:
            value = out.pop(alias)
            if canonical in out and out[canonical] != value:
                raise ValueError(f"{owner}: {alias}= is another name for {canonical}=; pass one of them")
            out[canonical] = value
    return out


def jsonable_model_kwargs(model_kwargs: dict[str, Any], owner: str) -> dict[str, Any]:
    """``model_kwargs`` as JSON values: a ``torch.dtype`` becomes its name (``"bfloat16"``, which the core
    accepts back); a ``token`` is left out (a secret: set ``HF_TOKEN`` or pass ``token=`` again); anything else
    that JSON cannot hold is refused with the key that holds it."""
    import json

    out: dict[str, Any] = {}
    for key, value in model_kwargs.items():
        if key == "token":
            continue
        if type(value).__name__ == "dtype" and type(value).__module__ == "torch":
            value = str(value).removeprefix("torch.")
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{owner}: model_kwargs[{key!r}] = {value!r} cannot be serialised ({exc}); "
                            "pass a JSON value (a string, number, bool, list or dict) to make to_dict()/to_json() "
                            "work") from None
        out[key] = value
    return out


def default_token_counter(embedder: Any) -> Any:
    """The batch token counter for a boundary ``embedder``: its tokenizer (or ``count_tokens``), the tokenizer of
    the core model a Qwen3 adapter wraps (``.client`` / ``.embedder``), else the tokenizer-free
    ``approximate_token_counter`` (one token per word, number, symbol or CJK character), so any framework
    embedding object works; pass ``count_tokens=`` for exact counts with a foreign model."""
    from qwen3_vl_rag.core.chunking import token_counter_for
    from qwen3_vl_rag.core.chunking.tokens import approximate_token_counter

    for candidate in (embedder, getattr(embedder, "embedder", None), getattr(embedder, "client", None)):
        if candidate is None:
            continue
        if getattr(candidate, "tokenizer", None) is not None or callable(getattr(candidate, "count_tokens", None)):
            return token_counter_for(candidate)
    return approximate_token_counter


ADAPTER_PRECISIONS = ("float32", "float16")  # what a framework's list-of-floats vectors can carry faithfully


def check_adapter_precision(owner: str, precision: Any) -> str:
    """An embedding adapter's ``precision``: float32 or float16 (vectors rounded to float16, returned as floats,
    for a collection written at float16, e.g. by the bulk job). The other precisions are refused with the reason:
    the frameworks' vector stores hold lists of floats and rank them by cosine or dot product, which is wrong
    on int8 / uint8 codes (each dimension shifted by its calibration range) and meaningless on packed bits."""
    if precision in ADAPTER_PRECISIONS:
        return str(precision)
    from qwen3_vl_rag.core.precision import check_precision_name

    check_precision_name(precision)  # an unknown name: the list of the valid ones
    raise ValueError(f"{owner}(precision={precision!r}) is not offered: framework vector stores hold lists of floats "
                     "and rank them by cosine or dot product, which gives wrong rankings on int8 / uint8 codes and "
                     "meaningless ones on packed binary bits. Use 'float32' or 'float16' here, or the core "
                     f"embedder's embed(..., precision={precision!r}) with a store that indexes such codes (see "
                     "docs/precision.md)")


def precision_kwargs(precision: str) -> dict[str, Any]:
    """``precision=`` for a core call, left out at float32 so an embedder of the older interface still works."""
    return {} if precision == "float32" else {"precision": precision}


def check_call(embedder: Any, items: Sequence[Any] = (), instruction: str | None = None,
               dimensions: int | None = None) -> None:
    """Have the core ``embedder`` check a whole call before an adapter splits it into batches (or check only
    ``dimensions`` when the model becomes known): what its ``check`` refuses raises here, before any forward
    pass or request. An object with the core interface but no ``check`` is not checked up front."""
    check = getattr(embedder, "check", None)
    if callable(check):
        check(items, instruction, dimensions)


def vl_embedder_model(embedder: Any, model_name: str, model_kwargs: dict[str, Any],
                      dimensions: int | None) -> Any:
    """The embedding adapters' model: the ``embedder`` given, or a ``Qwen3VLEmbedder`` built on first use; either
    way it checks ``dimensions`` against its size before any work (a remote model of unknown size checks it when
    its first answer gives the size)."""
    from ._lazy import LazyModel

    def checked(model: Any) -> Any:
        check_call(model, dimensions=dimensions)
        return model

    def load() -> Any:
        from qwen3_vl_rag.core import Qwen3VLEmbedder

        return checked(Qwen3VLEmbedder(model_name, **core_kwargs(model_kwargs)))

    return LazyModel(value=checked(embedder)) if embedder is not None else LazyModel(load)


def two_stage_embedder(embedder: Any, adapter_type: type) -> tuple[Any, str | None]:
    """(core embedder, query instruction) for a two-stage index, from a core embedder or a framework adapter
    of ``adapter_type`` (both have ``client``, ``dimensions``, ``document_instruction``, ``query_instruction``).

    An adapter with ``dimensions``, ``document_instruction`` or a ``precision`` other than float32 set is
    refused: the index stores the embedder's full float32 vectors with the default document instruction, so
    that setting would be lost.
    """
    if not isinstance(embedder, adapter_type):
        return embedder, None
    if embedder.dimensions is not None or embedder.document_instruction is not None \
            or getattr(embedder, "precision", "float32") != "float32":
        raise ValueError("a two-stage index stores full-size float32 vectors with the default document instruction: "
                         f"pass {adapter_type.__name__} without dimensions=, document_instruction= and precision= "
                         "(or its core embedder)")
    return embedder.client, embedder.query_instruction


def two_stage_index(embedder: Any, adapter_type: type, location: str, index_kwargs: dict[str, Any] | None) -> Any:
    """A ``TwoStageIndex`` at ``location`` over ``embedder`` (see ``two_stage_embedder``); the adapter's query
    instruction is the index's unless ``index_kwargs`` names one."""
    from qwen3_vl_rag.core.retrieval import TwoStageIndex

    core, query_instruction = two_stage_embedder(embedder, adapter_type)
    index_kwargs = dict(index_kwargs or {})
    if query_instruction is not None:
        index_kwargs.setdefault("query_instruction", query_instruction)
    return TwoStageIndex(core, location, **index_kwargs)
