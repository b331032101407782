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
    assert list(inputs.skipped) == [str(corpus_dir / "notes.csv")]  # reported, not silently dropped
    assert "unknown file type" in inputs.skipped[str(corpus_dir / "notes.csv")]
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


# -- the adversarial corpus: names, links, odd manifests ------------------------------------------------------


def test_a_name_that_is_not_utf8_is_a_dead_letter_row_whose_id_round_trips(tmp_path):
    """Issue 23 item 3: one such file failed the whole job with a pyarrow UnicodeEncodeError."""
    import os

    from qwen3_vl_rag.core.distributed.inputs import name_bytes

    root = tmp_path / "in"
    root.mkdir()
    (root / "good.txt").write_text("fine")
    raw = os.fsencode(str(root)) + b"/caf\xe9 \\x41.txt"  # latin-1 bytes and a literal backslash
    with open(raw, "w") as file:
        file.write("latin-1 name")
    table = read_inputs(root).table
    rows = {r["id"]: r for r in table.to_pylist()}
    assert set(rows) == {"good.txt", "caf\\xe9 \\\\x41.txt"}
    bad = rows["caf\\xe9 \\\\x41.txt"]
    assert "not valid UTF-8" in bad["_input_error"] and bad["text_file"] is None
    assert os.path.exists(os.fsencode(str(root)) + b"/" + name_bytes("caf\\xe9 \\\\x41.txt"))  # back to the file
    assert rows["good.txt"]["_input_error"] is None


def test_one_rule_for_links_in_directories_and_globs(tmp_path):
    """Issue 23 item 4: a quoted recursive glob followed a link loop (one file became 41 rows) while directory
    input skipped a linked folder silently. Now both follow links, each real folder once, and report the rest."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "x.txt").write_text("x")
    (root / "sub" / "loop").symlink_to(root)  # a loop
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "y.txt").write_text("y")
    (root / "linked").symlink_to(shared)  # a linked folder, reached once
    (root / "broken.txt").symlink_to(tmp_path / "nowhere.txt")
    (root / "alias.txt").symlink_to(root / "sub" / "x.txt")  # a link to a file is a file under its own name
    for source in (root, f"{root}/**/*.txt"):
        inputs = read_inputs(source)
        assert inputs.table.column("id").to_pylist() == ["alias.txt", "linked/y.txt", "sub/x.txt"], source
        assert "a broken symbolic link" in inputs.skipped[str(root / "broken.txt")]
        assert "link loop" in inputs.skipped[str(root / "sub" / "loop")]


def test_hidden_names_odd_ids_and_empty_inputs(tmp_path):
    root = tmp_path / "in"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "HEAD.txt").write_text("hidden folder")
    (root / ".hidden.txt").write_text("hidden file")
    for name in ("ünïcödé 文本.txt", "new\nline.txt", "space .txt", "%41.txt"):
        (root / name).write_text(name)
    ids = read_inputs(root).table.column("id").to_pylist()
    assert ids == sorted(["ünïcödé 文本.txt", "new\nline.txt", "space .txt", "%41.txt"])
    assert read_inputs(f"{root}/.*.txt").table.column("id").to_pylist() == [".hidden.txt"]  # asked for: given
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no file under"):
        read_inputs(empty)
    with pytest.raises(FileNotFoundError, match="no file matches"):
        read_inputs(f"{tmp_path}/absent/**/*.png")
    (empty / "data.csv").write_text("a,b")
    with pytest.raises(FileNotFoundError, match="no image, video or text file under"):
        read_inputs(empty)


def test_unusable_manifests_are_job_errors_naming_the_fix(tmp_path):
    """Issue 23 item 14: a jsonl column whose type changes between rows raised a raw ArrowInvalid."""
    from qwen3_vl_rag.core.distributed import JobError

    cases = {
        "mixed.jsonl": ("".join(f'{{"id": "{i}", "text": "t"}}\n' for i in range(5)) + '{"id": 5, "text": "t"}\n',
                        "one type in every row"),
        "empty.jsonl": ("", "cannot be read"),
        "torn.jsonl": ('{"id": "a", "text": "t"}\n{"id": "b", "te', "cannot be read"),
        "repeated.jsonl": ('{"id": "a", "text": "t"}\n{"id": "a", "text": "u"}\n', "repeated"),
        "reserved.jsonl": ('{"id": "a", "text": "t", "_input_error": "x"}\n', "reserved"),
        "null-id.jsonl": ('{"id": "a", "text": "t"}\n{"id": null, "text": "u"}\n', "empty on 1 row"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(JobError, match=message):
            read_inputs(tmp_path / name)
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}),
                   tmp_path / "none.parquet")
    with pytest.raises(JobError, match="no rows"):
        read_inputs(tmp_path / "none.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(JobError, match="cannot be read"):
        read_inputs(tmp_path / "broken.parquet")
    odd = [{"id": i, "text": t} for i, t in enumerate(["a\x00b", "c", "", "🙂", " "])]
    (tmp_path / "odd.jsonl").write_text("\n".join(json.dumps(r) for r in odd) + "\n")
    assert read_inputs(tmp_path / "odd.jsonl").table.column("text").to_pylist() == ["a\x00b", "c", "", "🙂", " "]
