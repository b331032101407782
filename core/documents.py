"""PDF pages as items: ``{"pdf": source, "page": n}`` is page ``n`` (1-based) rendered as an image.

A page is one more kind of image source (``PdfPage``): the media layer probes it up front (the document
opens, the page exists, the password fits, the rendered size is known) and renders it when its batch is
prepared, like any image, so a call over 2,000 pages never holds 2,000 bitmaps. A page is rendered
straight at the model's size: scaled from its point size so its pixels fill the item's ``max_pixels``,
then snapped by the official smart_resize (multiples of 32), and rendered once at exactly that size:
never at a fixed high DPI and then shrunk. Rendering uses PDFium (``pypdfium2``, the ``pdf`` extra).
PDFium is not thread-safe: every call into it holds one process-wide lock.
"""

from __future__ import annotations

import atexit
import io
import math
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import MediaError
from .media import MAX_DECODE_PIXELS, MediaOptions, check_pixels, load_image

if TYPE_CHECKING:
    from PIL import Image as PILImage

PDF_SUFFIX = ".pdf"
_LOCK = threading.RLock()  # PDFium may not be entered from two threads at once
_OPEN: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()  # key -> (PdfDocument, data kept alive)
_OPEN_LIMIT = 8
_TAIL = 4096  # "%%EOF" must appear in a PDF's last bytes; a file cut short has none


def close_documents() -> None:
    """Close the documents kept open between calls (their files are released)."""
    with _LOCK:
        while _OPEN:
            _OPEN.popitem()[1][0].close()



@dataclass(frozen=True, eq=False)
class PdfPage:
    """Page ``page`` (1-based) of the PDF ``source``, as an image source. ``size`` is the (width, height)
    it renders at, set when the call probed it (``probe_page``)."""

    source: Any
    page: int
    password: str | None = field(default=None, repr=False)
    size: tuple[int, int] | None = None

    def describe(self) -> str:
        return f"page {self.page} of {_describe(self.source)}"


def _describe(source: Any) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"the PDF bytes ({len(source):,} bytes)"
    if isinstance(source, io.IOBase):
        return "the PDF stream"
    text = str(source)
    if text.startswith("data:"):
        return "the PDF data URI"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 80 else text[:77] + "..."


_EXIT_HOOK: list[bool] = []


def _pdfium() -> Any:
    try:
        import pypdfium2
    except ImportError:
        raise MediaError("PDF pages need pypdfium2: pip install 'qwen3-vl-rag[pdf]'") from None
    if not _EXIT_HOOK:  # registered after pypdfium2's own exit hook, so it runs first and closes quietly
        _EXIT_HOOK.append(True)
        atexit.register(close_documents)
    return pypdfium2


def _read_stream(stream: Any) -> bytes:
    """A stream's bytes from its start, leaving its position as it was when it can seek."""
    if stream.seekable():
        position = stream.tell()
        stream.seek(0)
        try:
            return bytes(stream.read())
        finally:
            stream.seek(position)
    return bytes(stream.read())


def _resolve(source: Any, allow_urls: bool) -> Path | bytes:
    """A file path or the PDF's bytes (streams, data URIs and opted-in URLs are read here)."""
    from .media import _exists, _fetch_url, data_uri_bytes

    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, io.IOBase):
        data = _read_stream(source)
    elif isinstance(source, (str, Path)):
        text = str(source)
        if not text.strip():
            raise MediaError("the PDF source is an empty string")
        if text.startswith("data:"):
            data = data_uri_bytes(text, "data:application/pdf;base64,...")
        elif text.startswith(("http://", "https://")):
            data = _fetch_url(text, allow_urls)
        else:
            path = Path(urllib.parse.unquote(text[7:]) if text.startswith("file://") else text)
            if not _exists(path):
                raise MediaError(f"PDF file not found: {_describe(path)}")
            if path.is_dir():
                raise MediaError(f"{_describe(path)} is a directory, not a PDF file")
            return path
    else:
        raise MediaError(f"'pdf' must be a path, URI, bytes or a binary file object, got {type(source).__name__}")
    if not data:
        raise MediaError(f"{_describe(source)} is empty (0 bytes)")
    return data


def _tail(resolved: Path | bytes) -> bytes:
    if isinstance(resolved, bytes):
        return resolved[-_TAIL:]
    with open(resolved, "rb") as file:
        file.seek(max(0, resolved.stat().st_size - _TAIL))
        return file.read()


def _cache_key(resolved: Path | bytes, password: str | None) -> tuple[Any, ...]:
    if isinstance(resolved, bytes):
        return ("bytes", id(resolved), len(resolved), password)
    stat = resolved.stat()
    return ("path", str(resolved.resolve()), stat.st_mtime_ns, stat.st_size, password)


def _head_is_pdf(resolved: Path | bytes) -> bool:
    if isinstance(resolved, bytes):
        head = resolved[:1024]
    else:
        with open(resolved, "rb") as file:
            head = file.read(1024)
    return b"%PDF-" in head


def _open(resolved: Path | bytes, what: str, password: str | None) -> Any:
    """The open ``PdfDocument`` (cached: a call over many pages of one file opens it once). Hold ``_LOCK``."""
    key = _cache_key(resolved, password)
    if key in _OPEN:
        _OPEN.move_to_end(key)
        return _OPEN[key][0]
    pdfium = _pdfium()
    if not _head_is_pdf(resolved):
        raise MediaError(f"{what} is not a PDF (no %PDF- header)")
    if b"%%EOF" not in _tail(resolved):
        raise MediaError(f"{what} is truncated (no %%EOF marker at its end)")
    try:
        document = pdfium.PdfDocument(resolved, password=password)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise MediaError(f"{what} is encrypted and the password is wrong" if password else
                             f"{what} is encrypted: pass its 'password'") from None
        if code == pdfium.raw.FPDF_ERR_SECURITY:
            raise MediaError(f"{what} uses an unsupported security scheme") from None
        raise MediaError(f"{what} is a corrupt PDF (PDFium: {exc})") from None
    except OSError as exc:
        raise MediaError(f"{what} cannot be read ({exc})") from None
    _OPEN[key] = (document, resolved)
    while len(_OPEN) > _OPEN_LIMIT:
        _OPEN.popitem(last=False)[1][0].close()
    return document


@contextmanager
def _document(source: Any, password: str | None, allow_urls: bool = False) -> Iterator[tuple[Any, str]]:
    """(the open document, a description of the source) under ``_LOCK``; every failure a ``MediaError``."""
    resolved = _resolve(source, allow_urls)
    what = _describe(source)
    with _LOCK:
        yield _open(resolved, what, password), what


def _page_size(document: Any, page: int, what: str) -> tuple[float, float]:
    """(width, height) in points of 1-based ``page``, as displayed (``/Rotate`` applied)."""
    count = len(document)
    if count == 0:
        raise MediaError(f"{what} has no pages")
    if not 1 <= page <= count:
        raise MediaError(f"page {page} of {what} does not exist: the PDF has {count} page(s), numbered from 1")
    try:
        width, height = document.get_page_size(page - 1)
    except Exception as exc:  # noqa: BLE001 (PDFium reports a broken page tree as any error)
        raise MediaError(f"page {page} of {what} cannot be read ({exc})") from None
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        raise MediaError(f"page {page} of {what} has an invalid size {width:g} x {height:g} points")
    return width, height


def render_size(width: float, height: float, options: MediaOptions) -> tuple[int, int]:
    """(width, height) in pixels a ``width`` x ``height`` point page renders at: scaled by
    sqrt(max_pixels / area) to fill the pixel budget, then snapped by smart_resize (multiples of 32)."""
    from .media import _smart_resize

    scale = math.sqrt(options.max_pixels / (width * height))
    try:
        pixel_height, pixel_width = _smart_resize(max(1, math.ceil(height * scale)), max(1, math.ceil(width * scale)),
                                                  32, options.min_pixels, options.max_pixels)
    except ValueError as exc:  # aspect ratio over 200
        raise MediaError(f"a {width:g} x {height:g} point page cannot be rendered: {exc}") from None
    check_pixels(pixel_width, pixel_height, options.decode_limit)
    return pixel_width, pixel_height


def probe_page(page: PdfPage, options: MediaOptions) -> tuple[PdfPage, tuple[int, int]]:
    """(the page with its source resolved to a path or bytes and its render size, that size), read without
    rendering: the document opens (password checked), the page exists, its size is known."""
    try:
        resolved = _resolve(page.source, options.allow_urls)
        with _document(resolved, page.password) as (document, _):
            width, height = _page_size(document, page.page, _describe(page.source))
        size = render_size(width, height, options)
    except MediaError as exc:
        raise (exc if str(exc).startswith("page ") else MediaError(f"page {page.page}: {exc}")) from None
    return replace(page, source=resolved, size=size), size


def load_page(page: PdfPage, options: MediaOptions) -> PILImage.Image:
    """Render ``page`` (RGB) at its render size; a ``MediaError`` if the file changed since it was probed."""
    planned = page.size
    page, size = probe_page(page, options)
    if planned is not None and planned != size:
        raise MediaError(f"{page.describe()} now renders at {size} where the call planned {planned} "
                         "(a file changed during the call?)")
    pdfium = _pdfium()
    width, height = size
    with _document(page.source, page.password) as (document, what):
        try:
            pdf_page = document[page.page - 1]
            try:
                bitmap = pdfium.PdfBitmap.new_native(width, height, pdfium.raw.FPDFBitmap_BGR, rev_byteorder=True)
                bitmap.fill_rect((255, 255, 255, 255), 0, 0, width, height)
                pdfium.raw.FPDF_RenderPageBitmap(bitmap, pdf_page, 0, 0, width, height, 0, pdfium.raw.FPDF_ANNOT)
                image: PILImage.Image = bitmap.to_pil()
            finally:
                pdf_page.close()
        except MediaError:
            raise
        except Exception as exc:  # noqa: BLE001 (PDFium reports a broken page as any error)
            raise MediaError(f"page {page.page} of {what} cannot be rendered ({type(exc).__name__}: {exc})") from None
    return image.convert("RGB") if image.mode != "RGB" else image


# -- the public helpers ------------------------------------------------------------------------------
def pdf_pages(source: Any, password: str | None = None, *, allow_urls: bool = False) -> list[dict[str, Any]]:
    """One item per page of the PDF ``source``: ``[{"pdf": source, "page": 1}, ...]`` (with ``password``).

    Cheap: the document is opened and its pages counted, nothing is rendered. A stream, a URL or a data
    URI is read once and its bytes are shared by the items (a path stays a path).
    """
    given, password = password, secret_text(password)
    resolved = _resolve(source, allow_urls)
    if isinstance(resolved, bytes):  # streams, URLs, data URIs: read once, the bytes shared by every page
        source = resolved
    with _document(source, password, allow_urls) as (document, what):
        count = len(document)
    if count == 0:
        raise MediaError(f"{what} has no pages")
    extra = {"password": given} if given is not None else {}  # a SecretStr stays one
    return [{"pdf": source, "page": n, **extra} for n in range(1, count + 1)]


def page_count(source: Any, password: str | None = None, *, allow_urls: bool = False) -> int:
    """The number of pages of the PDF ``source`` (no page is rendered)."""
    with _document(source, secret_text(password), allow_urls) as (document, _):
        return len(document)


def page_labels(source: Any, password: str | None = None, *, allow_urls: bool = False) -> list[str]:
    """Each page's label as PDF viewers show it (the document's ``/PageLabels``: "iv", "A-3", ...), else
    its 1-based number as a string."""
    with _document(source, secret_text(password), allow_urls) as (document, _):
        return [str(document.get_page_label(i) or i + 1) for i in range(len(document))]


def page_text(source: Any, page: int, password: str | None = None, *, allow_urls: bool = False) -> str:
    """The text layer of 1-based ``page`` (for an LLM's context or hybrid search); ``""`` for a scanned page."""
    _check_page_number(page)
    with _document(source, secret_text(password), allow_urls) as (document, what):
        _page_size(document, page, what)
        pdf_page = document[page - 1]
        try:
            text_page = pdf_page.get_textpage()
            try:
                return str(text_page.get_text_range()).replace("\r\n", "\n")
            finally:
                text_page.close()
        finally:
            pdf_page.close()


def render_page(source: Any, page: int, password: str | None = None, *, min_pixels: int | None = None,
                max_pixels: int | None = None, max_decode_pixels: int = MAX_DECODE_PIXELS,
                allow_urls: bool = False) -> PILImage.Image:
    """Page ``page`` (1-based) exactly as the model receives it with these pixel limits (the embedders'
    ``min_pixels`` / ``max_pixels``, by default the official 4,096 and 1,843,200): an RGB image whose sides
    are multiples of 32."""
    from .formats import defaults as C

    _check_page_number(page)
    min_pixels = C.MIN_PIXELS if min_pixels is None else min_pixels
    max_pixels = C.MAX_PIXELS if max_pixels is None else max_pixels
    options = MediaOptions(min_pixels, max_pixels, C.TOTAL_PIXELS, C.FPS, C.NUM_FRAMES, C.MAX_FRAMES,
                           allow_urls, max_decode_pixels)
    return load_image(PdfPage(source, page, secret_text(password)), options)


def _check_page_number(page: Any) -> None:
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise ValueError(f"page must be an integer >= 1 (pages are numbered from 1), got {page!r}")


def secret_text(password: Any) -> str | None:
    """A password given as ``str`` or pydantic ``SecretStr``, as ``str`` (never logged)."""
    if password is None or isinstance(password, str):
        return password
    reveal = getattr(password, "get_secret_value", None)
    if callable(reveal):
        return str(reveal())
    raise TypeError(f"password must be a string or a SecretStr, got {type(password).__name__}")


def is_pdf_path(value: Any) -> bool:
    """Whether ``value`` names a ``.pdf`` file (by its suffix)."""
    return isinstance(value, (str, Path)) and str(value).split("?")[0].lower().endswith(PDF_SUFFIX)
