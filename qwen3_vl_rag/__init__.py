"""qwen3-vl-rag: the Qwen3-VL embedding, reranking and chunking stack for LlamaIndex and LangChain."""

__version__ = "0.1.0"
