"""EmbedBatch without any engine: same vectors as the embedder, dead letters instead of failures."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from qwen3_vl_rag.core.distributed import IDENTITY_METADATA_KEY, EmbedBatch, ModelSpec, identity_from_schema

from ...conftest import random_image

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    random_image(seed).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def batch_fn(tiny_vl_path):
    return EmbedBatch(str(tiny_vl_path))


def _vectors(table) -> np.ndarray:
    return np.array(table.column("vector").to_pylist(), dtype=np.float32)


def test_vectors_equal_the_embedder_and_identity_rides_in_the_schema(batch_fn, vl_embedder, tmp_path):
    images = [_png(1), _png(2)]
    table = pa.table({"id": ["a", "b", "c", "d"], "text": ["a cat", None, "a dog", "caption"],
                      "image": [None, images[0], None, images[1]]})
    out = batch_fn(table)
    assert out.column_names == ["id", "vector", "error"]
    assert out.schema.field("vector").type == pa.list_(pa.float32(), vl_embedder.dimension)
    assert out.column("id").to_pylist() == ["a", "b", "c", "d"] and out.column("error").null_count == 4
    expected = vl_embedder.embed(["a cat", {"image": images[0]}, "a dog", {"text": "caption", "image": images[1]}])
    np.testing.assert_allclose(_vectors(out), expected, atol=1e-6)
    pq.write_table(out, tmp_path / "part.parquet")  # the identity survives a parquet round trip
    schema = pq.read_schema(tmp_path / "part.parquet")
    assert identity_from_schema(schema) == vl_embedder.identity
    assert IDENTITY_METADATA_KEY in schema.metadata


def test_a_corrupt_image_is_one_dead_letter_row_and_the_rest_is_embedded(batch_fn, vl_embedder):
    table = pa.table({"id": [1, 2, 3, 4], "text": ["one", None, "three", None],
                      "image": [None, b"garbage bytes", None, _png(3)]})
    out = batch_fn(table)
    errors = out.column("error").to_pylist()
    assert errors[0] is None and errors[2] is None and errors[3] is None
    assert "not an image" in errors[1]
    assert out.column("vector").to_pylist()[1] is None  # null vector, never a silent zero or gap
    good = _vectors(out.filter(pa.array([e is None for e in errors])))
    np.testing.assert_allclose(good, vl_embedder.embed(["one", "three", {"image": _png(3)}]), atol=1e-6)


def test_many_bad_items_are_isolated_one_by_one(batch_fn, vl_embedder, tmp_path):
    missing = [str(tmp_path / f"missing{i}.png") for i in range(5)]
    table = pa.table({"id": list("abcdefg"), "image": [missing[0], None, missing[1], missing[2], missing[3],
                                                         None, missing[4]],
                      "text": [None, "fine", None, None, None, "also fine", None]})
    out = batch_fn(table)
    errors = out.column("error").to_pylist()
    assert [e is None for e in errors] == [False, True, False, False, False, True, False]
    assert all("file not found" in errors[i] for i in (0, 2, 3, 4, 6))
    good = _vectors(out.filter(pa.array([e is None for e in errors])))
    np.testing.assert_allclose(good, vl_embedder.embed(["fine", "also fine"]), atol=1e-6)


def test_rows_without_content_and_unreadable_text_files_are_dead_letters(batch_fn, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("a cat by the river", encoding="utf-8")
    table = pa.table({"id": ["empty", "file", "nofile", "both", "blank"],
                      "text": [None, None, None, "x", ""],
                      "text_file": [None, str(note), str(tmp_path / "nope.txt"), str(note), None]})
    errors = batch_fn(table).column("error").to_pylist()
    assert errors[0] == "row has no text, image or video to embed"
    assert errors[1] is None
    assert errors[2].startswith("cannot read text file")
    assert "both 'text' and 'text_file'" in errors[3]
    assert errors[4] == "row has no text, image or video to embed"  # empty text would embed as "NULL"


def test_text_model_refuses_media_rows_and_embeds_texts(tiny_text_path, text_embedder):
    out = EmbedBatch(str(tiny_text_path))(pa.table({"id": [0, 1], "text": ["hello", "hi"],
                                                    "image": [None, _png(0)]}))
    errors = out.column("error").to_pylist()
    assert errors[0] is None and "embeds text only" in errors[1]
    np.testing.assert_allclose(_vectors(out.slice(0, 1)), text_embedder.embed(["hello"]), atol=1e-6)
    assert identity_from_schema(out.schema).prompt_format == "qwen3-embedding"


def test_dimensions_and_instruction_reach_the_embedder(tiny_vl_path, vl_embedder):
    fn = EmbedBatch(ModelSpec(str(tiny_vl_path)), dimensions=16, instruction="Find a picture of this")
    out = fn({"id": ["q"], "text": ["a cat"]})  # a dict of columns in, a dict out
    assert set(out) == {"id", "vector", "error"} and len(out["vector"][0]) == 16
    expected = vl_embedder.embed(["a cat"], instruction="Find a picture of this", dimensions=16)
    np.testing.assert_allclose(np.array(out["vector"], dtype=np.float32), expected, atol=1e-6)
    assert fn.identity.dimension == 16


def test_numpy_integers_are_dimensions_like_embed_takes_them(tiny_vl_path, vl_embedder):
    """Issue 23 item 14: EmbedBatch(dimensions=np.int64(32)) was refused while embed() accepted it."""
    fn = EmbedBatch(str(tiny_vl_path), dimensions=np.int64(32))
    assert fn.dimensions == 32 and type(fn.dimensions) is int
    out = fn(pa.table({"id": ["q"], "text": ["a cat"]}))
    np.testing.assert_allclose(out.column("vector").to_pylist()[0], vl_embedder.embed(["a cat"], dimensions=32)[0],
                               atol=1e-6)
    for bad in (True, 2.0, "32", np.int64(0)):
        with pytest.raises(ValueError, match="dimensions must be a positive integer"):
            EmbedBatch(str(tiny_vl_path), dimensions=bad)


def test_pandas_batches_for_spark_map_in_pandas(batch_fn, vl_embedder):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"id": ["x", "y"], "text": ["one", "two"]})
    out = batch_fn(frame)
    assert list(out.columns) == ["id", "vector", "error"] and out["error"].isna().all()
    np.testing.assert_allclose(np.stack(out["vector"].to_list()), vl_embedder.embed(["one", "two"]), atol=1e-6)


def test_keep_columns_are_carried_and_missing_columns_refused(batch_fn):
    table = pa.table({"id": ["a"], "text": ["x"], "source": ["web"], "other": [1]})
    out = EmbedBatch(batch_fn.factory, keep_columns=["source"])(table)
    assert out.column_names == ["id", "source", "vector", "error"] and out.column("source").to_pylist() == ["web"]
    with pytest.raises(ValueError, match="keep_columns"):
        EmbedBatch(batch_fn.factory, keep_columns=["nope"])(table)
    with pytest.raises(ValueError, match="no 'id' column"):
        batch_fn(pa.table({"text": ["x"]}))
    with pytest.raises(ValueError, match="none of the input columns"):
        batch_fn(pa.table({"id": ["x"], "body": ["x"]}))


def test_pickles_without_weights_and_loads_once(batch_fn, tiny_vl_path):
    fn = EmbedBatch(str(tiny_vl_path))
    fn({"id": [0], "text": ["warm up"]})
    loaded = fn.embedder
    fn({"id": [1], "text": ["again"]})
    assert fn.embedder is loaded  # the model is loaded once per worker
    payload = pickle.dumps(fn)
    assert len(payload) < 10_000  # a description, not the weights
    assert pickle.loads(payload)._embedder is None


def test_model_arguments_are_checked(tiny_vl_path, tiny_text_path):
    assert ModelSpec(str(tiny_vl_path)).resolved_kind() == "vl"
    assert ModelSpec(str(tiny_text_path)).resolved_kind() == "text"
    assert ModelSpec("Qwen/Qwen3-VL-Embedding-8B").resolved_kind() == "vl"
    assert ModelSpec("Qwen/Qwen3-Embedding-0.6B").resolved_kind() == "text"
    with pytest.raises(ValueError, match="kind"):
        ModelSpec("x", kind="image")
    with pytest.raises(TypeError, match="model kwargs"):
        EmbedBatch(ModelSpec("x"), device="cpu")
    with pytest.raises(ValueError, match="dimensions"):
        EmbedBatch("x", dimensions=0)
    with pytest.raises(TypeError, match="pyarrow.Table"):
        EmbedBatch("x")([("id", 1)])


def test_video_bytes_are_embedded_like_the_file(batch_fn, vl_embedder, tmp_path):
    av = pytest.importorskip("av", reason="PyAV writes the test video (dev extra)")
    pytest.importorskip("decord", reason="the video extra's reader (decord) reads video files")
    path = tmp_path / "clip.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(4):
            frame = np.random.RandomState(i).randint(0, 256, (64, 64, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out = batch_fn(pa.table({"id": ["bytes", "junk"], "video": [path.read_bytes(), b"not a video"]}))
    errors = out.column("error").to_pylist()  # an arrow column is binary or string: bytes here
    assert errors[0] is None and "cannot be read" in errors[1]
    expected = vl_embedder.embed([{"video": str(path)}])[0]
    np.testing.assert_allclose(out.column("vector").to_pylist()[0], expected, atol=1e-6)


@pytest.mark.parametrize("precision, arrow", [("float16", pa.float16()), ("int8", pa.int8()), ("uint8", pa.uint8()),
                                              ("binary", pa.int8()), ("ubinary", pa.uint8())])
def test_shards_store_the_quantized_dtype_and_width(tiny_vl_path, vl_embedder, precision, arrow, tmp_path):
    from qwen3_vl_rag.core.distributed import PRECISION_METADATA_KEY
    from qwen3_vl_rag.core.precision import VectorPrecision, calibration_ranges, quantize, row_width

    texts = ["a cat", "a dog", "a bird by the river"]
    kwargs = {"ranges": calibration_ranges(vl_embedder.embed(texts + ["calibration"], dimensions=12))} \
        if precision in ("int8", "uint8") else {}
    batch = EmbedBatch(str(tiny_vl_path), dimensions=12, precision=precision, **kwargs)
    table = pa.table({"id": ["a", "b", "bad", "c"], "text": [texts[0], texts[1], None, texts[2]]})
    out = batch(table)
    width = row_width(precision, 12)  # 2 bytes for binary / ubinary
    assert out.schema.field("vector").type == pa.list_(arrow, width)
    assert out.column("error").to_pylist()[2] is not None and out.column("vector")[2].as_py() is None
    good = [0, 1, 3]
    stored = np.array([out.column("vector")[i].as_py() for i in good])
    np.testing.assert_array_equal(stored, quantize(vl_embedder.embed(texts, dimensions=12), precision, **kwargs))
    pq.write_table(out, tmp_path / "part.parquet")
    schema = pq.read_schema(tmp_path / "part.parquet")
    identity = identity_from_schema(schema)
    assert identity == vl_embedder.identity.with_dimension(12).with_precision(precision, **kwargs)
    import json

    assert VectorPrecision.from_dict(json.loads(schema.metadata[PRECISION_METADATA_KEY])) == batch.precision


def test_precision_arguments_are_checked_up_front(tiny_vl_path, vl_embedder):
    from qwen3_vl_rag.core.distributed import BadArgument
    from qwen3_vl_rag.core.precision import calibration_ranges

    with pytest.raises(ValueError, match="needs per-dimension ranges"):
        EmbedBatch(str(tiny_vl_path), precision="int8")
    with pytest.raises(ValueError, match="precision must be one of"):
        EmbedBatch(str(tiny_vl_path), precision="fp8")
    with pytest.raises(ValueError, match=r"shape \(2, 9\).*12 dimensions"):
        EmbedBatch(str(tiny_vl_path), dimensions=12, precision="int8", ranges=calibration_ranges(np.eye(9)))
    batch = EmbedBatch(str(tiny_vl_path), precision="uint8", ranges=calibration_ranges(np.eye(9)))
    with pytest.raises(BadArgument, match=rf"shape \(2, 9\).*{vl_embedder.dimension} dimensions"):
        batch.preflight()  # the model's size, from its config: no weights loaded
