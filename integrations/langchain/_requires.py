"""Fails the import of the LangChain adapters at once, naming the extra, when LangChain is not installed."""

from .._extras import require

require("langchain", ("langchain_core", "langchain_text_splitters"), "langchain")
