"""What a bulk job reads: a directory, a glob of files, or a parquet / JSONL manifest, as one table.

The table has an ``id`` column and the batch function's input columns (``text``, ``text_file``,
``image``, ``video``). Files are listed in sorted order so that the same input always gives the same
rows in the same order (the shards of a job depend on it). Files are not opened here: workers read them.

One rule for directories and globs alike: symbolic links are followed (to files and to folders), and
each real folder is walked once per pattern position, so a link loop or a second link to the same
folder adds nothing; names starting with ``.`` are left out (as ``ls`` and ``glob`` do). Whatever is
found and not embedded is in ``InputTable.skipped`` with the reason: files of an unknown type, broken
links, folders reached a second time, unreadable folders. A file whose name is not valid UTF-8 cannot
travel in an Arrow string column: it becomes a dead-letter row whose id is its name's bytes escaped
(``escaped_name`` / ``name_bytes`` convert both ways).

File types are decided by suffix in ``FILE_TYPES``: add a suffix there (or a column and its suffixes)
to read a new type.
"""

from __future__ import annotations

import codecs
import fnmatch
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..inputs import VIDEO_FILE_SUFFIXES
from .batch import ID, IMAGE, INPUT_COLUMNS, INPUT_ERROR, TEXT_FILE, VIDEO
from .errors import JobError
from .pages import PDF, PDF_SUFFIXES, expand_pages

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
TEXT_SUFFIXES = (".txt", ".md", ".text")
MANIFEST_SUFFIXES = (".parquet", ".jsonl", ".ndjson")
# input column -> the file suffixes read into it
FILE_TYPES: dict[str, tuple[str, ...]] = {IMAGE: IMAGE_SUFFIXES, VIDEO: tuple(VIDEO_FILE_SUFFIXES),
                                          TEXT_FILE: TEXT_SUFFIXES, PDF: PDF_SUFFIXES}


@dataclass
class InputTable:
    """The rows of a job (``table``) and the files found but not embedded (``skipped``: path -> reason)."""

    table: Any  # pyarrow.Table
    skipped: dict[str, str] = field(default_factory=dict)


def read_inputs(source: str | os.PathLike[str]) -> InputTable:
    """Rows to embed from ``source``: a directory (recursively; images, videos and text files by suffix,
    ``id`` = the path relative to it), a glob pattern (``id`` = the path relative to the pattern's fixed
    prefix) or a manifest (``.parquet``, ``.jsonl``) with an ``id`` column and any of ``text``,
    ``text_file``, ``image``, ``video``; relative paths in a manifest are relative to the manifest.

    Raises ``FileNotFoundError`` when nothing is found and ``JobError`` for an unusable input."""
    text = os.fspath(source)
    path = Path(text)
    if path.is_dir():
        walk = _Walk(path)
        walk.folder(path, (), ("**", "*"))
        return walk.table(f"under {text!r}")
    if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        return InputTable(expand_pages(_manifest(path), ID, INPUT_ERROR))
    if glob.has_magic(text):
        root, pattern = _split_pattern(text)
        walk = _Walk(root)
        if root.is_dir():
            walk.folder(root, (), pattern)
        return walk.table(f"matches {text!r}")
    if path.is_file():
        raise JobError(f"{text!r} is a single file, not a manifest: give its folder, a quoted glob such as "
                       f"'{path.parent / ('*' + path.suffix)}', or a .parquet / .jsonl manifest listing it")
    raise FileNotFoundError(f"input not found: {text!r}")


def escaped_name(raw: bytes) -> str:
    """A file name's bytes as a valid string: backslashes doubled, bytes that are not UTF-8 as ``\\xNN``."""
    return raw.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


def name_bytes(escaped: str) -> bytes:
    """The inverse of ``escaped_name``: the file name's bytes (``os.fsdecode`` gives the path back)."""
    return codecs.escape_decode(escaped.encode("utf-8"))[0]


def _split_pattern(pattern: str) -> tuple[Path, tuple[str, ...]]:
    """A glob pattern as its fixed prefix (a folder) and the pattern parts below it."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    return (Path(*parts[:fixed]) if fixed else Path(".")), tuple(parts[fixed:])


def _column_of(name: str) -> str | None:
    suffix = os.path.splitext(name)[1].lower()
    return next((column for column, suffixes in FILE_TYPES.items() if suffix in suffixes), None)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Walk:
    """Matches a glob pattern below ``root`` (``("**", "*")`` is every file), following links, each real
    folder once per pattern position; collects (id, column, absolute path) and the skipped paths."""

    def __init__(self, root: Path):
        self.root = root
        self.found: dict[tuple[str, ...], tuple[str | None, str]] = {}  # relative parts -> (column, path)
        self.skipped: dict[str, str] = {}
        self.visited: dict[tuple[int, int, int], str] = {}  # (device, inode, pattern position) -> first path

    def folder(self, folder: Path, relative: tuple[str, ...], pattern: tuple[str, ...]) -> None:
        try:
            status = folder.stat()
            key = (status.st_dev, status.st_ino, len(pattern))
            if key in self.visited:
                self.skipped[str(folder)] = f"the same folder as {self.visited[key]!r} (a link loop or a second link)"
                return
            self.visited[key] = str(folder)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            self.skipped[str(folder)] = f"cannot read this folder: {exc.strerror or exc}"
            return
        head, rest = pattern[0], pattern[1:]
        if head == "**":
            if rest:
                self.folder_entries(entries, relative, rest)
            for entry in entries:  # '**' goes on in every sub-folder
                if not entry.name.startswith(".") and self._is_dir(entry):
                    self.folder(Path(entry.path), (*relative, entry.name), pattern if rest else ("**", "*"))
            if not rest:
                self.folder_entries(entries, relative, ("*",))
            return
        self.folder_entries(entries, relative, pattern)

    def folder_entries(self, entries: list[os.DirEntry[str]], relative: tuple[str, ...],
                       pattern: tuple[str, ...]) -> None:
        head, rest = pattern[0], pattern[1:]
        for entry in entries:
            if entry.name.startswith(".") and not head.startswith("."):
                continue
            if not fnmatch.fnmatchcase(entry.name, head):
                continue
            if rest:
                if self._is_dir(entry):
                    self.folder(Path(entry.path), (*relative, entry.name), rest)
            elif self._is_file(entry):
                self.found[relative + (entry.name,)] = (_column_of(entry.name), entry.path)

    def _is_dir(self, entry: os.DirEntry[str]) -> bool:
        try:
            return entry.is_dir()
        except OSError:
            return False

    def _is_file(self, entry: os.DirEntry[str]) -> bool:
        try:
            if entry.is_file():
                return True
            if entry.is_symlink() and not os.path.exists(entry.path):
                self.skipped[entry.path] = "a broken symbolic link"
        except OSError as exc:
            self.skipped[entry.path] = f"cannot read it: {exc.strerror or exc}"
        return False

    def table(self, where: str) -> InputTable:
        import pyarrow as pa

        columns: dict[str, list[str | None]] = {ID: [], TEXT_FILE: [], IMAGE: [], VIDEO: [], PDF: [], INPUT_ERROR: []}
        ids: set[str] = set()
        for relative in sorted(self.found):
            column, path = self.found[relative]
            if column is None:
                self.skipped[path] = "unknown file type (not an image, video or text suffix)"
                continue
            row_id, absolute = "/".join(relative), os.path.abspath(path)
            error = None
            if not (_encodable(row_id) and _encodable(absolute)):
                row_id = escaped_name(os.fsencode(row_id))
                error = ("the file name is not valid UTF-8, so it cannot be passed on; the id is its bytes escaped "
                         "(qwen3_vl_rag.core.distributed.inputs.name_bytes gives them back): rename the file")
            if row_id in ids:  # only an escaped name can repeat a real one
                self.skipped[escaped_name(os.fsencode(path))] = f"its escaped id {row_id!r} is another file's id"
                continue
            ids.add(row_id)
            columns[ID].append(row_id)
            columns[INPUT_ERROR].append(error)
            for name in (TEXT_FILE, IMAGE, VIDEO, PDF):
                columns[name].append(absolute if name == column and error is None else None)
        self.skipped = {(p if _encodable(p) else escaped_name(os.fsencode(p))): reason
                        for p, reason in sorted(self.skipped.items())}
        note = f" ({len(self.skipped)} path(s) skipped)" if self.skipped else ""
        if not self.found:
            raise FileNotFoundError(f"no file {where}{note}")
        if not columns[ID]:
            raise FileNotFoundError(f"no image, video or text file {where.replace('matches', 'matching')}{note}")
        if not any(columns[INPUT_ERROR]):
            del columns[INPUT_ERROR]
        table = pa.table({k: pa.array(v, type=pa.string()) for k, v in columns.items()})
        return InputTable(expand_pages(table, ID, INPUT_ERROR), self.skipped)  # a PDF: one row per page


def _manifest(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            import pyarrow.json as pj

            table = pj.read_json(path)
    except (pa.ArrowException, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise JobError(f"manifest {str(path)!r} cannot be read ({first}); write one JSON object per line, each "
                       "column with one type in every row (e.g. every id a string)") from exc
    if ID not in table.column_names:
        raise JobError(f"manifest {str(path)!r} has no {ID!r} column (columns: {table.column_names})")
    if not any(c in table.column_names for c in INPUT_COLUMNS):
        raise JobError(f"manifest {str(path)!r} has none of the columns {list(INPUT_COLUMNS)}")
    if table.num_rows == 0:
        raise JobError(f"manifest {str(path)!r} has no rows")
    if INPUT_ERROR in table.column_names:
        raise JobError(f"manifest {str(path)!r}: the column name {INPUT_ERROR!r} is reserved; rename it")
    if table.column(ID).null_count:
        raise JobError(f"manifest {str(path)!r}: {ID!r} is empty on {table.column(ID).null_count} row(s)")
    counts = pc.value_counts(table.column(ID).combine_chunks())
    repeated = [c["values"] for c in counts.to_pylist() if c["counts"] > 1]
    if repeated:
        raise JobError(f"manifest {str(path)!r}: ids must be unique; {len(repeated)} repeated, e.g. {repeated[:5]}")
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
