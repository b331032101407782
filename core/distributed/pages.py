"""PDF files in a bulk job: one row per page, each embedded as the page image.

A row whose ``pdf`` column names a PDF and whose ``page`` is empty (a ``.pdf`` file found in a directory
or a glob, or a manifest row without a page) becomes one row per page, with the id ``<id>#page=<n>``
(1-based). The page count is read when the job lists its inputs (the document is opened, nothing is
rendered); an unreadable file stays one row and carries the reason, so it becomes one dead-letter row. A
page that fails later (its rendering) is its own dead-letter row; the other pages embed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import MediaError

PDF, PAGE = "pdf", "page"
PDF_SUFFIXES = (".pdf",)
PAGE_ID_SEPARATOR = "#page="


def expand_pages(table: Any, id_column: str, error_column: str) -> Any:
    """``table`` (pyarrow) with each whole-PDF row replaced by its pages, in order; ``table`` itself when it
    has no ``pdf`` column. An unreadable PDF keeps its one row, with the reason in ``error_column``."""
    import pyarrow as pa

    from ..documents import page_count

    if PDF not in table.column_names:
        return table
    rows = table.to_pylist()
    out: list[dict[str, Any]] = []
    for row in rows:
        source, page = row.get(PDF), row.get(PAGE)
        if source is None or page is not None or row.get(error_column) is not None:
            out.append(row)
            continue
        try:
            count = page_count(source)
            if count == 0:
                raise MediaError(f"{source} has no pages")
        except MediaError as exc:
            out.append({**row, error_column: f"cannot read PDF: {exc}"})
            continue
        out += [{**row, id_column: f"{row[id_column]}{PAGE_ID_SEPARATOR}{n}", PAGE: n} for n in range(1, count + 1)]
    schema = table.schema
    if PAGE not in schema.names:
        schema = schema.append(pa.field(PAGE, pa.int64()))
    if error_column not in schema.names and any(r.get(error_column) is not None for r in out):
        schema = schema.append(pa.field(error_column, pa.string()))
    return pa.Table.from_pylist(out, schema=schema)


def page_item(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"pdf": ..., "page": n}`` for a page row, None for a row without a PDF; a ``ValueError`` for a PDF row
    without a valid page."""
    source = row.get(PDF)
    if source is None:
        return None
    page = row.get(PAGE)
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise ValueError(f"row has a 'pdf' but no valid 'page' (1-based), got {page!r}")
    return {"pdf": bytes(source) if isinstance(source, (bytes, bytearray)) else source, "page": page}
