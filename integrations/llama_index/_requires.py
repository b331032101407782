"""Fails the import of the LlamaIndex adapters at once, naming the extra, when LlamaIndex is not installed."""

from .._extras import require

require("llama_index", ("llama_index.core",), "llama-index")
