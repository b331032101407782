"""What a bulk job reads: a directory, a glob of files, or a parquet / JSONL manifest, as one table.

The table has an ``id`` column and the batch function's input columns (``text``, ``text_file``,
``image``, ``video``). Files are listed in sorted order so that the same input always gives the same
rows in the same order (the shards of a job depend on it). Files are not opened here: workers read them.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..inputs import VIDEO_FILE_SUFFIXES
from .batch import ID, IMAGE, INPUT_COLUMNS, INPUT_ERROR, TEXT_FILE, VIDEO
from .pages import PDF, PDF_SUFFIXES, expand_pages

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
TEXT_SUFFIXES = (".txt", ".md", ".text")
MANIFEST_SUFFIXES = (".parquet", ".jsonl", ".ndjson")


@dataclass
class InputTable:
    """The rows of a job (``table``) and the files that were passed over because their type is unknown."""

    table: Any  # pyarrow.Table
    skipped: list[str] = field(default_factory=list)


def read_inputs(source: str | os.PathLike[str]) -> InputTable:
    """Rows to embed from ``source``: a directory (recursively; images, videos and text files by suffix,
    ``id`` = the path relative to it), a glob pattern (``id`` = the path relative to the pattern's fixed
    prefix) or a manifest (``.parquet``, ``.jsonl``) with an ``id`` column and any of ``text``,
    ``text_file``, ``image``, ``video``; relative paths in a manifest are relative to the manifest."""
    text = str(source)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
        return _files_table(files, path)
    if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        return InputTable(expand_pages(_manifest(path), ID, INPUT_ERROR))
    if glob.has_magic(text):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise FileNotFoundError(f"no file matches {text!r}")
        return _files_table(files, _fixed_prefix(text))
    if path.is_file():
        raise ValueError(f"{text!r} is not a manifest: use a .parquet or .jsonl file, a directory or a glob")
    raise FileNotFoundError(f"input not found: {text!r}")


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _fixed_prefix(pattern: str) -> Path:
    parts = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _files_table(files: list[Path], root: Path) -> InputTable:
    import pyarrow as pa

    columns: dict[str, list[str | None]] = {ID: [], TEXT_FILE: [], IMAGE: [], VIDEO: [], PDF: []}
    skipped = []
    for file in files:
        suffix = file.suffix.lower()
        column = (IMAGE if suffix in IMAGE_SUFFIXES else VIDEO if suffix in VIDEO_FILE_SUFFIXES
                  else TEXT_FILE if suffix in TEXT_SUFFIXES else PDF if suffix in PDF_SUFFIXES else None)
        if column is None:
            skipped.append(str(file))
            continue
        columns[ID].append(file.relative_to(root).as_posix() if file.is_relative_to(root) else str(file))
        for name in (TEXT_FILE, IMAGE, VIDEO, PDF):
            columns[name].append(str(file.resolve()) if name == column else None)
    if not columns[ID]:
        raise FileNotFoundError(f"no image, video or text file under {str(root)!r} "
                                f"({len(skipped)} file(s) of other types)")
    table = pa.table({k: pa.array(v, type=pa.string()) for k, v in columns.items()})
    return InputTable(expand_pages(table, ID, INPUT_ERROR), skipped)  # a PDF: one row per page


def _manifest(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    else:
        import pyarrow.json as pj

        table = pj.read_json(path)
    if ID not in table.column_names:
        raise ValueError(f"manifest {str(path)!r} has no {ID!r} column (columns: {table.column_names})")
    if not any(c in table.column_names for c in INPUT_COLUMNS):
        raise ValueError(f"manifest {str(path)!r} has none of the columns {list(INPUT_COLUMNS)}")
    if table.column(ID).null_count:
        raise ValueError(f"manifest {str(path)!r}: {ID!r} is empty on {table.column(ID).null_count} row(s)")
    counts = pc.value_counts(table.column(ID).combine_chunks())
    repeated = [c["values"] for c in counts.to_pylist() if c["counts"] > 1]
    if repeated:
        raise ValueError(f"manifest {str(path)!r}: ids must be unique; repeated: {repeated[:5]}")
    for name in (TEXT_FILE, IMAGE, VIDEO, PDF):
        if name in table.column_names and pa.types.is_string(table.schema.field(name).type):
            resolved = [_resolve(v, path.parent) for v in table.column(name).to_pylist()]
            table = table.set_column(table.column_names.index(name), name, pa.array(resolved, type=pa.string()))
    return table


def _resolve(value: str | None, base: Path) -> str | None:
    """A path relative to the manifest, made absolute when that file exists (URIs, base64 and missing
    files stay as written; a missing one becomes a dead-letter row naming it)."""
    if value is None or "://" in value or value.startswith("data:") or len(value) > 4096:
        return value
    candidate = base / value
    return str(candidate.resolve()) if not Path(value).is_absolute() and candidate.exists() else value
