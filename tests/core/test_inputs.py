"""Bad input: one clear error naming the item's index and the reason, before any model work."""

import base64
import io

import numpy as np
import pytest

from qwen3_vl_rag.core import InputError

from ..conftest import random_image


@pytest.fixture
def forward_calls(vl_embedder):
    """Counts real forward passes of the embedder's model (a hook on the real module, not a mock)."""
    calls = []
    handle = vl_embedder.model.register_forward_pre_hook(lambda *args, **kwargs: calls.append(1))
    yield calls
    handle.remove()


def _bad_inputs(tmp_path):
    corrupt = tmp_path / "corrupt.png"
    good = io.BytesIO()
    random_image(0).save(good, format="PNG")
    corrupt.write_bytes(good.getvalue()[:60])
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")
    return [
        (None, "got NoneType"),
        (7, "got int"),
        ({"txt": "typo"}, "unknown key(s) ['txt']"),
        ({"image": str(tmp_path / "missing.png")}, "file not found"),
        ({"image": tmp_path}, "is a directory"),
        ({"image": str(corrupt)}, "corrupt image"),
        ({"image": str(text_file)}, "not an image"),
        ({"image": "https://example.com/cat.png"}, "allow_urls=True"),
        ({"video": []}, "no frames"),
        ({"image": random_image(0, size=(804, 4))}, "aspect ratio"),
        ({"text": 3}, "'text' must be a string"),
        ({"video": str(tmp_path / "missing.mp4")}, "video file not found"),
        ({"text": "x", "fps": -1}, "'fps' must be a positive number"),
    ]


def test_each_bad_item_is_named_by_index_before_any_forward(vl_embedder, forward_calls, tmp_path):
    for bad, reason in _bad_inputs(tmp_path):
        with pytest.raises(InputError) as info:
            vl_embedder.embed(["fine", random_image(1), bad, "also fine"])
        assert info.value.index == 2, bad
        assert reason in info.value.reason, (bad, info.value.reason)
        assert str(info.value).startswith("input item 2: ")
    assert forward_calls == []


def test_a_single_item_instead_of_a_list_is_a_type_error(vl_embedder):
    with pytest.raises(TypeError, match="list"):
        vl_embedder.embed("just a string")


@pytest.mark.parametrize("kind", ["path", "file_uri", "data_uri", "bytes", "base64", "stream", "array", "pil"])
def test_every_image_form_gives_the_same_vector(vl_embedder, tmp_path, kind):
    image = random_image(2, size=(80, 50))
    path = tmp_path / "img.png"
    image.save(path)
    raw = path.read_bytes()
    b64 = base64.b64encode(raw).decode()
    source = {
        "path": str(path), "file_uri": f"file://{path}", "data_uri": f"data:image/png;base64,{b64}",
        "bytes": raw, "base64": b64, "stream": io.BytesIO(raw), "array": np.asarray(image), "pil": image,
    }[kind]
    reference = vl_embedder.embed([image])
    assert np.allclose(vl_embedder.embed([{"image": source}]), reference, atol=1e-6)


def test_rgba_is_composited_on_white(vl_embedder):
    transparent = random_image(3, size=(64, 64), mode="RGBA")
    transparent.putalpha(0)
    white = random_image(3, size=(64, 64))
    white.paste((255, 255, 255), (0, 0, 64, 64))
    assert np.allclose(vl_embedder.embed([transparent]), vl_embedder.embed([white]), atol=1e-6)


# -- issue 13: text checks and character caps ---------------------------------------------------
def test_check_text_names_the_item_and_the_position():
    from qwen3_vl_rag.core.inputs import check_text, parse_items

    assert check_text(0, "héllo ✓ 😀") == "héllo ✓ 😀"
    with pytest.raises(InputError) as info:
        check_text(4, "ab\udc80c")
    assert info.value.index == 4 and "character 2" in info.value.reason and "not valid Unicode" in info.value.reason
    with pytest.raises(InputError) as info:
        parse_items(["ok", {"text": ["fine", "x\ud800"]}])
    assert info.value.index == 1


@pytest.fixture(scope="module")
def real_tokenizer(tiny_vl_real_vocab_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_vl_real_vocab_path))


@pytest.mark.parametrize("text", [
    "The quick brown fox jumps over the lazy dog. " * 4000,
    " " * 200_000,
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 6000,
    "検索拡張生成のためのマルチモーダル埋め込み。" * 5000,
    "short text",
])
def test_tokenize_capped_keeps_exactly_the_tokens_of_the_full_text(real_tokenizer, text):
    from qwen3_vl_rag.core.inputs import SAFE_CHARS_PER_TOKEN, tokenize_capped

    seen = []

    def tokenize(t):
        seen.append(len(t))
        return real_tokenizer(t, add_special_tokens=False)["input_ids"]

    max_tokens = 512
    full = real_tokenizer(text, add_special_tokens=False)["input_ids"][:max_tokens]
    assert tokenize_capped(tokenize, text, max_tokens) == full
    assert seen[0] <= (max_tokens + 1) * SAFE_CHARS_PER_TOKEN  # the first pass never sees the whole text


def test_cap_characters():
    from qwen3_vl_rag.core.inputs import cap_characters

    assert cap_characters("x" * 10, 100) == "x" * 10
    assert len(cap_characters("x" * 1_000_000, 8192)) == 8193 * 16
    with pytest.raises(ValueError):
        cap_characters("x", -1)
