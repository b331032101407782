"""PDF pages as items (core.documents): listing, text layer, rendering at the model's size, the page item in
the local embedder and reranker, and every kind of bad PDF as an InputError naming the item and page.

Every PDF here is written by ``qwen3_vl_rag.sample_pdfs`` (text, ruled tables, embedded images, rotated and
mixed-size pages, RC4 encryption) or cut from one (truncated, corrupt).
"""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from pydantic import SecretStr

from qwen3_vl_rag.core import Qwen3VLEmbedder, Qwen3VLReranker
from qwen3_vl_rag.core.documents import page_count, page_text, pdf_pages, render_page
from qwen3_vl_rag.core.errors import InputError
from qwen3_vl_rag.sample_pdfs import PageSpec, build_pdf, gradient_image

MAX_PIXELS = 96 * 32 * 32  # 96 visual tokens a page: fast on the CPU, still every code path
LIMITS = {"max_pixels": MAX_PIXELS}

MIXED = [
    PageSpec(lines=["Quarterly report", "Revenue grew by 12 percent"]),
    PageSpec(lines=["Table 1"], table=(4, 3)),
    PageSpec(width=792, height=612, lines=["Landscape chart"], image=gradient_image(seed=3),
             image_box=(300, 100, 320, 240)),
    PageSpec(lines=["Rotated page"], rotate=90, fill=(0.9, 0.95, 1.0)),
    PageSpec(width=2384, height=3370, lines=["A0 poster"], font_size=72),  # A0: rendered within max_pixels
    PageSpec(width=200, height=100, lines=["tiny"]),
]


@pytest.fixture(scope="module")
def mixed_pdf(tmp_path_factory):
    path = tmp_path_factory.mktemp("pdfs") / "mixed.pdf"
    path.write_bytes(build_pdf(MIXED))
    return path


@pytest.fixture(scope="module")
def embedder(tiny_vl_path):
    return Qwen3VLEmbedder(str(tiny_vl_path), **LIMITS)


@pytest.fixture(scope="module")
def reranker(tiny_vl_path):
    return Qwen3VLReranker(str(tiny_vl_path), **LIMITS)


def _cosines(a, b):
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


# -- listing, text, rendering --------------------------------------------------------------------
def test_pdf_pages_lists_every_page_one_based_without_rendering(mixed_pdf):
    items = pdf_pages(mixed_pdf)
    assert items == [{"pdf": mixed_pdf, "page": n} for n in range(1, len(MIXED) + 1)]
    assert page_count(str(mixed_pdf)) == len(MIXED)


def test_pdf_pages_of_a_stream_or_data_uri_share_one_bytes_object(mixed_pdf):
    import base64

    data = mixed_pdf.read_bytes()
    for source in (io.BytesIO(data), "data:application/pdf;base64," + base64.b64encode(data).decode()):
        items = pdf_pages(source)
        assert len(items) == len(MIXED) and all(i["pdf"] == data for i in items)
        assert len({id(i["pdf"]) for i in items}) == 1


def test_page_text_is_the_text_layer(mixed_pdf):
    assert page_text(mixed_pdf, 1) == "Quarterly report\nRevenue grew by 12 percent"
    assert "R4C3" in page_text(mixed_pdf, 2)  # the table's cell labels
    assert page_text(mixed_pdf, 4) == "Rotated page"


@pytest.mark.parametrize("page", range(1, len(MIXED) + 1))
def test_render_page_fills_the_pixel_budget_in_32_pixel_multiples(mixed_pdf, page):
    spec = MIXED[page - 1]
    image = render_page(mixed_pdf, page, **LIMITS)
    width, height = image.size
    assert image.mode == "RGB" and width % 32 == 0 and height % 32 == 0
    assert 0.8 * MAX_PIXELS <= width * height <= MAX_PIXELS  # rendered at the budget, never beyond it
    displayed = (spec.height, spec.width) if spec.rotate in (90, 270) else (spec.width, spec.height)
    assert abs(width / height - displayed[0] / displayed[1]) < 0.15 * displayed[0] / displayed[1]


def test_render_page_draws_the_page_content(mixed_pdf):
    blank = np.asarray(render_page(build_pdf([PageSpec()]), 1, **LIMITS))
    text = np.asarray(render_page(mixed_pdf, 1, **LIMITS))
    assert blank.min() == 255 and text.min() < 128  # black glyphs on white
    chart = np.asarray(render_page(mixed_pdf, 3, **LIMITS)).astype(int)
    assert (np.abs(chart[..., 0] - chart[..., 2]) > 60).any()  # the embedded image's colours


def test_render_page_at_the_default_budget_renders_an_a0_poster_within_max_pixels(mixed_pdf):
    image = render_page(mixed_pdf, 5)
    assert image.size[0] * image.size[1] <= 1_843_200


def test_rotated_page_is_rendered_as_displayed():
    upright = build_pdf([PageSpec(width=792, height=612, lines=["x"])])
    rotated = build_pdf([PageSpec(width=792, height=612, lines=["x"], rotate=90)])
    assert render_page(upright, 1, **LIMITS).size[0] > render_page(upright, 1, **LIMITS).size[1]
    assert render_page(rotated, 1, **LIMITS).size[0] < render_page(rotated, 1, **LIMITS).size[1]


# -- the page item in the models -------------------------------------------------------------------
def test_a_page_vector_is_the_vector_of_its_rendered_image(embedder, mixed_pdf):
    pages = pdf_pages(mixed_pdf)
    images = [render_page(mixed_pdf, n, **LIMITS) for n in range(1, len(MIXED) + 1)]
    page_vectors = embedder.embed(pages)
    image_vectors = embedder.embed(images)
    assert page_vectors.dtype == np.float32 and page_vectors.shape == image_vectors.shape
    assert (_cosines(page_vectors, image_vectors) >= 0.99999).all()
    assert _cosines(page_vectors[:1], page_vectors[1:2])[0] < 0.99999  # pages differ


def test_a_page_combines_with_text_and_instruction_like_an_image(embedder, mixed_pdf):
    image = render_page(mixed_pdf, 2, **LIMITS)
    mixed = embedder.embed([{"pdf": str(mixed_pdf), "page": 2, "text": "table", "instruction": "Find tables"},
                            {"image": image, "text": "table", "instruction": "Find tables"}])
    assert _cosines(mixed[:1], mixed[1:])[0] >= 0.99999


def test_every_source_kind_gives_the_same_vector(embedder, mixed_pdf):
    data = mixed_pdf.read_bytes()
    import base64

    sources = [mixed_pdf, str(mixed_pdf), f"file://{mixed_pdf}", data, bytearray(data), io.BytesIO(data),
               "data:application/pdf;base64," + base64.b64encode(data).decode()]
    vectors = embedder.embed([{"pdf": s, "page": 3} for s in sources])
    assert (_cosines(vectors, vectors[:1]) >= 0.99999).all()


def test_an_encrypted_page_opens_with_its_password(embedder):
    secret = build_pdf([PageSpec(lines=["classified"])], password="s3cret")
    plain = build_pdf([PageSpec(lines=["classified"])])
    vectors = embedder.embed([{"pdf": secret, "page": 1, "password": "s3cret"},
                              {"pdf": secret, "page": 1, "password": SecretStr("s3cret")},
                              {"pdf": plain, "page": 1}])
    assert (_cosines(vectors, vectors[2:]) >= 0.99999).all()
    assert page_text(secret, 1, password="s3cret") == "classified"


def test_the_reranker_scores_a_page_as_its_image(reranker, mixed_pdf):
    image = render_page(mixed_pdf, 2, **LIMITS)
    page_scores = reranker.score("revenue table", [{"pdf": mixed_pdf, "page": n} for n in (1, 2)])
    image_scores = reranker.score("revenue table", [render_page(mixed_pdf, 1, **LIMITS), image])
    np.testing.assert_allclose(page_scores, image_scores, rtol=0, atol=1e-5)
    pair = reranker.score({"pdf": mixed_pdf, "page": 2}, ["tables", {"pdf": mixed_pdf, "page": 1}])  # page queries
    np.testing.assert_allclose(pair, reranker.score(image, ["tables", render_page(mixed_pdf, 1, **LIMITS)]),
                               rtol=0, atol=1e-5)


def test_pages_are_rendered_batch_by_batch_not_up_front(tiny_vl_path, mixed_pdf, monkeypatch):
    from qwen3_vl_rag.core import documents

    embedder = Qwen3VLEmbedder(str(tiny_vl_path), max_batch_size=1, **LIMITS)
    rendered, at_each_pass, lock = [0], [], threading.Lock()
    real = documents.load_page

    def counting(page, options):
        with lock:
            rendered[0] += 1
        return real(page, options)

    monkeypatch.setattr(documents, "load_page", counting)
    remove = embedder.on_batch(lambda stats: at_each_pass.append(rendered[0]))
    try:
        embedder.embed(pdf_pages(mixed_pdf) * 3)
    finally:
        remove()
    total = 3 * len(MIXED)
    assert rendered[0] == total and len(at_each_pass) == total  # each page rendered once, one pass each
    assert at_each_pass[0] < total / 2  # the first pass ran before most pages were rendered


# -- bad input ---------------------------------------------------------------------------------------
def _bad(embedder, item, *fragments, index=1):
    with pytest.raises(InputError) as caught:
        embedder.embed(["fine", item] if index == 1 else [item])
    assert caught.value.index == index
    for fragment in fragments:
        assert fragment in caught.value.reason, caught.value.reason
    return caught.value


@pytest.mark.parametrize("case", ["not a pdf", "truncated", "corrupt", "no pages", "empty"])
def test_an_unreadable_pdf_is_an_input_error_naming_item_and_page(embedder, mixed_pdf, case):
    data = mixed_pdf.read_bytes()
    source, fragment = {
        "not a pdf": (b"\x89PNG\r\n\x1a\n not a pdf at all", "not a PDF"),
        "truncated": (data[: len(data) // 2], "truncated"),
        "corrupt": (data[:200] + bytes(range(256)) * 20 + b"\n%%EOF\n", "corrupt"),
        "no pages": (build_pdf([]), ""),
        "empty": (b"", "empty"),
    }[case]
    _bad(embedder, {"pdf": source, "page": 1}, "page 1", fragment)


def test_encrypted_without_or_with_a_wrong_password(embedder):
    secret = build_pdf([PageSpec(lines=["classified"])], password="s3cret")
    _bad(embedder, {"pdf": secret, "page": 1}, "page 1", "encrypted", "pass its 'password'")
    error = _bad(embedder, {"pdf": secret, "page": 1, "password": "guess"}, "page 1", "password is wrong")
    assert "guess" not in str(error)


def test_page_zero_or_past_the_end(embedder, mixed_pdf):
    _bad(embedder, {"pdf": mixed_pdf, "page": 0}, "'page' must be an integer >= 1")
    _bad(embedder, {"pdf": mixed_pdf, "page": True}, "'page' must be an integer >= 1")
    _bad(embedder, {"pdf": mixed_pdf, "page": 7}, "page 7", "has 6 page(s)")
    _bad(embedder, {"pdf": mixed_pdf}, "needs its 'page'")
    _bad(embedder, {"image": "x.png", "page": 2}, "only go with 'pdf'")
    _bad(embedder, {"pdf": 3, "page": 1}, "'pdf' must be a path")
    _bad(embedder, {"pdf": mixed_pdf.parent / "missing.pdf", "page": 1}, "page 1", "not found")


def test_a_page_beyond_the_aspect_limit_is_refused_before_rendering(embedder):
    ribbon = build_pdf([PageSpec(width=14400, height=20)])
    _bad(embedder, {"pdf": ribbon, "page": 1}, "page 1", "cannot be rendered")


def test_a_bad_page_fails_the_call_before_any_model_work(embedder, mixed_pdf, monkeypatch):
    from qwen3_vl_rag.core import documents

    rendered = []
    monkeypatch.setattr(documents, "load_page", lambda *a: rendered.append(a))
    with pytest.raises(InputError) as caught:
        embedder.embed(pdf_pages(mixed_pdf) + [{"pdf": mixed_pdf, "page": 99}])
    assert caught.value.index == len(MIXED) and rendered == []


def test_render_page_and_page_text_refuse_bad_page_numbers(mixed_pdf):
    with pytest.raises(ValueError, match="numbered from 1"):
        render_page(mixed_pdf, 0)
    with pytest.raises(ValueError, match="numbered from 1"):
        page_text(mixed_pdf, 0)


# -- pages in the two-stage index -----------------------------------------------------------------
def test_pages_stored_in_a_two_stage_index_are_their_rendered_images(embedder, mixed_pdf):
    """``TwoStageIndex.add`` takes page items like any item: the stored vector is the page image's, a page's
    own image finds that page first, and a bad page stores nothing and names its position in the call."""
    pytest.importorskip("qdrant_client")
    from qwen3_vl_rag.core.retrieval import TwoStageIndex

    index = TwoStageIndex(embedder, ":memory:", coarse_dimension=16)
    pages = pdf_pages(mixed_pdf)[:4]
    index.add(pages, ids=[f"mixed.pdf#page={n}" for n in range(1, 5)],
              payloads=[{"page": n} for n in range(1, 5)])
    for n in range(1, 5):
        hits = index.search_vector(embedder.embed([render_page(mixed_pdf, n, **LIMITS)])[0], k=1)
        assert hits[0].id == f"mixed.pdf#page={n}" and hits[0].payload["page"] == n
        assert hits[0].score >= 0.99999
    with pytest.raises(InputError) as caught:
        index.add([{"text": "fine"}, {"pdf": str(mixed_pdf), "page": 99}], ids=["a", "b"])
    assert caught.value.index == 1 and "99" in str(caught.value)
    assert len(index) == 4
