"""read_inputs: directories, globs and manifests become one table in a stable order."""

from __future__ import annotations

import json

import pytest

from qwen3_vl_rag.core.distributed import read_inputs

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def test_directory_rows_are_sorted_typed_and_unknown_files_reported(corpus_dir):
    inputs = read_inputs(corpus_dir)
    table = inputs.table
    ids = table.column("id").to_pylist()
    assert ids == sorted(ids) and len(ids) == 14 + 6 + 1
    assert "images/more/img1.png" in ids and "texts/t00.txt" in ids
    row = table.to_pylist()[ids.index("texts/t03.txt")]
    assert row["text_file"] == str(corpus_dir / "texts" / "t03.txt") and row["image"] is None
    assert inputs.skipped == [str(corpus_dir / "notes.csv")]  # reported, not silently dropped
    assert read_inputs(corpus_dir).table.equals(table)  # the same input gives the same rows


def test_glob_ids_are_relative_to_the_fixed_prefix(corpus_dir):
    table = read_inputs(f"{corpus_dir}/images/**/*.png").table
    assert table.column("id").to_pylist() == ["broken.png", "img0.png", "img2.png", "img4.png", "more/img1.png",
                                              "more/img3.png", "more/img5.png"]
    with pytest.raises(FileNotFoundError, match="no file matches"):
        read_inputs(f"{corpus_dir}/*.nothing")


def test_manifests_resolve_relative_paths_and_check_ids(corpus_dir, tmp_path):
    rows = [{"id": "a", "text": "a cat"}, {"id": "b", "image": "images/img0.png"},
            {"id": "c", "image": "data:image/png;base64,AAAA"}]
    jsonl = corpus_dir / "manifest.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    try:
        table = read_inputs(jsonl).table
    finally:
        jsonl.unlink()
    assert table.column("id").to_pylist() == ["a", "b", "c"]
    assert table.column("image").to_pylist() == [None, str(corpus_dir / "images" / "img0.png"),
                                                 "data:image/png;base64,AAAA"]
    pq.write_table(pa.table({"id": [1, 2, 1], "text": ["x", "y", "z"]}), tmp_path / "dup.parquet")
    with pytest.raises(ValueError, match="ids must be unique"):
        read_inputs(tmp_path / "dup.parquet")
    pq.write_table(pa.table({"name": ["x"], "text": ["x"]}), tmp_path / "noid.parquet")
    with pytest.raises(ValueError, match="no 'id' column"):
        read_inputs(tmp_path / "noid.parquet")
    (tmp_path / "data.csv").write_text("id,text\n1,x\n")
    with pytest.raises(ValueError, match="not a manifest"):
        read_inputs(tmp_path / "data.csv")
    with pytest.raises(FileNotFoundError):
        read_inputs(tmp_path / "absent")
