"""PDF files in a bulk job: one row per page (``<file id>#page=<n>``) from directories, globs and manifests; an
unreadable file is one dead-letter row, a failing page its own, the rest embed as their page images."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pypdfium2")
pa = pytest.importorskip("pyarrow")

from qwen3_vl_rag.core import Qwen3VLEmbedder  # noqa: E402
from qwen3_vl_rag.core.distributed import embed_local, read_inputs, read_output  # noqa: E402
from qwen3_vl_rag.core.documents import render_page  # noqa: E402
from qwen3_vl_rag.sample_pdfs import PageSpec, build_pdf, gradient_image  # noqa: E402

MAX_PIXELS = 32 * 32 * 32
REPORT = [PageSpec(lines=["one"]), PageSpec(lines=["two"], table=(2, 2)),
          PageSpec(lines=["three"], image=gradient_image(seed=4))]


@pytest.fixture(scope="module")
def pdf_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("bulk-pdfs")
    (root / "docs").mkdir()
    (root / "docs" / "report.pdf").write_bytes(build_pdf(REPORT))
    (root / "docs" / "broken.pdf").write_bytes(b"%PDF-1.4 this file was cut sho")
    # page 2 is a 14400 x 20 point ribbon: over smart_resize's aspect-ratio limit, it cannot be rendered
    (root / "docs" / "ribbon.pdf").write_bytes(build_pdf([PageSpec(lines=["ok"]), PageSpec(width=14400, height=20)]))
    (root / "note.txt").write_text("a text file", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def page_vectors(tiny_vl_path, pdf_dir):
    embedder = Qwen3VLEmbedder(str(tiny_vl_path), max_pixels=MAX_PIXELS)
    path = pdf_dir / "docs" / "report.pdf"
    return embedder.embed([render_page(path, n, max_pixels=MAX_PIXELS) for n in (1, 2, 3)])


def test_a_directory_lists_one_row_per_page(pdf_dir):
    table = read_inputs(pdf_dir).table
    ids = table.column("id").to_pylist()
    assert ids == ["docs/broken.pdf", "docs/report.pdf#page=1", "docs/report.pdf#page=2", "docs/report.pdf#page=3",
                   "docs/ribbon.pdf#page=1", "docs/ribbon.pdf#page=2", "note.txt"]
    rows = {r["id"]: r for r in table.to_pylist()}
    assert rows["docs/report.pdf#page=2"]["page"] == 2
    assert rows["docs/report.pdf#page=2"]["pdf"] == str((pdf_dir / "docs" / "report.pdf").resolve())
    assert "cannot read PDF" in rows["docs/broken.pdf"]["_input_error"]


def test_the_job_embeds_pages_as_their_images_with_dead_letters(pdf_dir, tiny_vl_path, page_vectors, tmp_path):
    report = embed_local(pdf_dir, tmp_path / "out", model=str(tiny_vl_path), max_pixels=MAX_PIXELS, progress=False)
    assert (report.rows, report.errors) == (7, 2)
    rows = {r["id"]: r for r in read_output(tmp_path / "out").to_pylist()}
    assert "truncated" in rows["docs/broken.pdf"]["error"] and rows["docs/broken.pdf"]["vector"] is None
    ribbon = rows["docs/ribbon.pdf#page=2"]["error"]
    assert "page 2" in ribbon and "cannot be rendered" in ribbon
    assert rows["docs/ribbon.pdf#page=1"]["error"] is None and rows["note.txt"]["error"] is None
    got = np.asarray([rows[f"docs/report.pdf#page={n}"]["vector"] for n in (1, 2, 3)], np.float32)
    np.testing.assert_allclose(got, page_vectors, atol=1e-5)


def test_globs_and_manifests(pdf_dir, tmp_path):
    ids = read_inputs(str(pdf_dir / "docs" / "rep*.pdf")).table.column("id").to_pylist()
    assert ids == ["report.pdf#page=1", "report.pdf#page=2", "report.pdf#page=3"]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in [
        {"id": "whole", "pdf": str(pdf_dir / "docs" / "report.pdf")},
        {"id": "second", "pdf": str(pdf_dir / "docs" / "report.pdf"), "page": 2},
        {"id": "text", "text": "hello"}]) + "\n", encoding="utf-8")
    table = read_inputs(manifest).table
    assert table.column("id").to_pylist() == ["whole#page=1", "whole#page=2", "whole#page=3", "second", "text"]
    out = {r["id"]: r for r in table.to_pylist()}
    assert out["second"]["page"] == 2 and out["whole#page=3"]["page"] == 3
