"""Small PDFs written from scratch (no PDF library), for tests, benchmarks and examples.

Pages hold text lines (the standard Helvetica font, so PDF readers extract the text layer), ruled tables,
embedded RGB images, a ``/Rotate``, and any size; a document can be encrypted with the PDF standard
security handler (revision 2, RC4 with a 40-bit key: every PDF reader opens it; PDF libraries that only
render, such as pypdfium2, cannot write encrypted files).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

# the padding string of the standard security handler (PDF 32000-1, 7.6.3.3)
_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")
_DOCUMENT_ID = hashlib.md5(b"qwen3-vl-rag sample pdf").digest()


@dataclass
class PageSpec:
    """One page: its size in points (1/72 inch), rotation, text lines, a ruled table and an image."""

    width: float = 612.0  # US Letter
    height: float = 792.0
    rotate: int = 0
    lines: Sequence[str] = ()
    font_size: float = 14.0
    table: tuple[int, int] | None = None  # (rows, columns) of a ruled grid with cell labels
    image: tuple[int, int, bytes] | None = None  # (width, height, RGB bytes)
    image_box: tuple[float, float, float, float] = (72.0, 72.0, 200.0, 150.0)  # x, y, width, height
    fill: tuple[float, float, float] | None = None  # a coloured rectangle behind everything (RGB 0-1)
    extra: list[str] = field(default_factory=list)  # raw content-stream operators appended as they are


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(spec: PageSpec) -> bytes:
    ops: list[str] = []
    if spec.fill is not None:
        red, green, blue = spec.fill
        ops.append(f"{red:.3f} {green:.3f} {blue:.3f} rg 0 0 {spec.width:g} {spec.height:g} re f")
        ops.append("0 0 0 rg")
    if spec.image is not None:
        x, y, w, h = spec.image_box
        ops.append(f"q {w:g} 0 0 {h:g} {x:g} {y:g} cm /Im1 Do Q")
    y = spec.height - 72
    for line in spec.lines:
        ops.append(f"BT /F1 {spec.font_size:g} Tf 72 {y:g} Td ({_escape(line)}) Tj ET")
        y -= spec.font_size * 1.4
    if spec.table is not None:
        rows, cols = spec.table
        cell_w, cell_h, left, top = 90.0, 24.0, 72.0, y - 10
        ops.append("0.8 w")
        for r in range(rows + 1):
            ops.append(f"{left:g} {top - r * cell_h:g} m {left + cols * cell_w:g} {top - r * cell_h:g} l S")
        for c in range(cols + 1):
            ops.append(f"{left + c * cell_w:g} {top:g} m {left + c * cell_w:g} {top - rows * cell_h:g} l S")
        for r in range(rows):
            for c in range(cols):
                ops.append(f"BT /F1 10 Tf {left + c * cell_w + 6:g} {top - (r + 1) * cell_h + 8:g} Td "
                           f"(R{r + 1}C{c + 1}) Tj ET")
    ops.extend(spec.extra)
    return "\n".join(ops).encode("latin-1")


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def _padded(password: str) -> bytes:
    return (password.encode("latin-1") + _PAD)[:32]


def _security(user: str, owner: str) -> tuple[bytes, bytes, bytes, int]:
    """(file key, /O, /U, /P) of the standard security handler, revision 2."""
    permissions = -4
    o_entry = _rc4(hashlib.md5(_padded(owner)).digest()[:5], _padded(user))
    key = hashlib.md5(_padded(user) + o_entry + struct.pack("<i", permissions) + _DOCUMENT_ID).digest()[:5]
    return key, o_entry, _rc4(key, _PAD), permissions


def build_pdf(pages: Sequence[PageSpec], *, password: str | None = None, owner_password: str | None = None) -> bytes:
    """The bytes of a PDF with ``pages``; encrypted (RC4, 40-bit) when ``password`` is given."""
    objects: dict[int, bytes] = {}
    streams: dict[int, tuple[bytes, bytes]] = {}  # number -> (dictionary body, data)
    font, pages_root, next_number = 3, 2, 4
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[font] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    kids = []
    for spec in pages:
        page_number, content_number = next_number, next_number + 1
        next_number += 2
        resources = f"/Font << /F1 {font} 0 R >>"
        if spec.image is not None:
            width, height, rgb = spec.image
            if len(rgb) != width * height * 3:
                raise ValueError(f"image data is {len(rgb)} bytes, expected {width * height * 3}")
            streams[next_number] = (f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
                                    "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode".encode(),
                                    zlib.compress(rgb))
            resources += f" /XObject << /Im1 {next_number} 0 R >>"
            next_number += 1
        rotate = f" /Rotate {spec.rotate}" if spec.rotate else ""
        objects[page_number] = (f"<< /Type /Page /Parent {pages_root} 0 R /MediaBox [0 0 {spec.width:g} "
                                f"{spec.height:g}]{rotate} /Resources << {resources} >> /Contents "
                                f"{content_number} 0 R >>").encode()
        streams[content_number] = (b"", _content(spec))
        kids.append(f"{page_number} 0 R")
    objects[pages_root] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    key = None
    trailer_extra = ""
    if password is not None:
        key, o_entry, u_entry, permissions = _security(password, owner_password or password)
        objects[next_number] = (f"<< /Filter /Standard /V 1 /R 2 /Length 40 /O <{o_entry.hex()}> "
                                f"/U <{u_entry.hex()}> /P {permissions} >>").encode()
        trailer_extra = f" /Encrypt {next_number} 0 R"
        next_number += 1
    for number, (body, data) in streams.items():
        if key is not None:
            data = _rc4(hashlib.md5(key + number.to_bytes(3, "little") + b"\x00\x00").digest()[:10], data)
        objects[number] = b"<< " + body + b" /Length " + str(len(data)).encode() + b" >>\nstream\n" + data + \
            b"\nendstream"
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + objects[number] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += f"xref\n0 {size}\n0000000000 65535 f \n".encode()
    for number in range(1, size):
        out += f"{offsets[number]:010d} 00000 n \n".encode() if number in offsets else b"0000000000 65535 f \n"
    document_id = _DOCUMENT_ID.hex()
    out += (f"trailer\n<< /Size {size} /Root 1 0 R /ID [<{document_id}> <{document_id}>]{trailer_extra} >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def gradient_image(width: int = 64, height: int = 48, seed: int = 0) -> tuple[int, int, bytes]:
    """An RGB image (width, height, bytes) with a gradient and a seed-dependent tint, for ``PageSpec.image``."""
    data = bytearray()
    for y in range(height):
        for x in range(width):
            data += bytes(((x * 255 // max(width - 1, 1) + seed * 40) % 256, y * 255 // max(height - 1, 1),
                           (seed * 97) % 256))
    return width, height, bytes(data)


def report_pdf(title: str, pages: int = 3, *, seed: int = 0, password: str | None = None) -> bytes:
    """A report of ``pages`` pages mixing text, tables, an image, a landscape and a rotated page."""
    specs = []
    for n in range(pages):
        kind = (n + seed) % 4
        lines = [f"{title}", f"Page {n + 1} of {pages}", f"Section {n + 1}: findings for item {seed}-{n}"]
        if kind == 0:
            specs.append(PageSpec(lines=lines))
        elif kind == 1:
            specs.append(PageSpec(lines=lines, table=(4, 3)))
        elif kind == 2:
            specs.append(PageSpec(width=792, height=612, lines=lines, image=gradient_image(seed=seed + n),
                                  image_box=(300, 100, 320, 240)))
        else:
            specs.append(PageSpec(lines=lines, rotate=90, fill=(0.9, 0.95, 1.0)))
    return build_pdf(specs, password=password)
