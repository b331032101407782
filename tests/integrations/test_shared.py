import subprocess
import sys

import pytest

from qwen3_vl_rag.integrations._shared import document_item, media_from_metadata


def test_explicit_keys_win_and_file_path_counts_only_for_media_files():
    assert media_from_metadata({"image_path": "a.png", "file_path": "b.jpg"}) == ("a.png", None)
    assert media_from_metadata({"file_path": "scan.JPG"}) == ("scan.JPG", None)
    assert media_from_metadata({"file_path": "clip.mp4"}) == (None, "clip.mp4")
    assert media_from_metadata({"file_path": "report.pdf"}) == (None, None)
    assert media_from_metadata({"video_url": "https://x/v.mp4", "image": "aGk="}) == ("aGk=", "https://x/v.mp4")
    assert media_from_metadata(None) == (None, None)


def test_document_item_is_text_unless_there_is_media():
    assert document_item("hello") == "hello"
    assert document_item("caption", image="a.png") == {"text": "caption", "image": "a.png"}
    assert document_item("", video="v.mp4") == {"video": "v.mp4"}


def test_base64_image_recognises_the_add_images_convention_only():
    import base64
    import io

    from qwen3_vl_rag.integrations._shared import base64_image

    from ..conftest import random_image

    for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"):
        buffer = io.BytesIO()
        random_image(3).save(buffer, format=fmt)
        encoded = base64.b64encode(buffer.getvalue()).decode()
        assert base64_image(encoded) == encoded, fmt
    uri = "data:image/png;base64," + encoded
    assert base64_image(uri) == uri
    for text in ("Solar panels turn sunlight into electricity.", "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=",  # "hello world"
                 "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=", "", "photo.png", None):
        assert base64_image(text) is None


def test_a_token_is_never_printed_nor_serialised(tiny_vl_path):
    import json

    from qwen3_vl_rag.integrations.langchain import Qwen3VLEmbeddings
    from qwen3_vl_rag.integrations.llama_index import Qwen3VLEmbedding

    for model in (Qwen3VLEmbedding(str(tiny_vl_path), token="hf_secret123"),
                  Qwen3VLEmbeddings(model_name=str(tiny_vl_path), token="hf_secret123")):
        dumped = model.to_json() if hasattr(model, "to_json") else model.model_dump_json()
        assert "hf_secret123" not in repr(model) and "hf_secret123" not in dumped
        assert "token" not in json.loads(dumped)["model_kwargs"]
        assert model.client.model_name == str(tiny_vl_path)  # the token reached from_pretrained as a string


def test_a_checkpoint_of_the_wrong_kind_is_refused_by_every_adapter(tiny_text_path, tiny_vl_path):
    """Issue 15 #4 (checked in core): the adapters' own loading reaches the check, eagerly or lazily."""
    import pytest

    from qwen3_vl_rag.integrations.langchain import Qwen3SemanticChunker, Qwen3VLEmbeddings, Qwen3VLRerank
    from qwen3_vl_rag.integrations.llama_index import Qwen3SemanticSplitter, Qwen3VLEmbedding
    from qwen3_vl_rag.integrations.llama_index import Qwen3VLRerank as LlamaRerank

    builds = [lambda: Qwen3VLEmbedding(str(tiny_text_path)), lambda: LlamaRerank(str(tiny_text_path)),
              lambda: Qwen3VLEmbeddings(model_name=str(tiny_text_path)),
              lambda: Qwen3VLRerank(model_name=str(tiny_text_path)),
              lambda: Qwen3VLEmbedding(str(tiny_text_path), lazy=True).get_query_embedding("x")]
    for build in builds:
        with pytest.raises(ValueError, match="'qwen3' checkpoint"):
            build()
    for build in (lambda: Qwen3SemanticSplitter(str(tiny_vl_path)), lambda: Qwen3SemanticChunker(str(tiny_vl_path))):
        with pytest.raises(ValueError, match="'qwen3_vl' checkpoint"):
            build()


def _hub_cache(model_dir, cache, repo_id: str) -> None:
    """Lay ``model_dir`` out as the Hugging Face cache holds ``repo_id`` (what a download would leave)."""
    import shutil

    repo = cache / f"models--{repo_id.replace('/', '--')}"
    revision = "0" * 40
    shutil.copytree(model_dir, repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)


def test_cache_folder_reaches_model_and_processor(tiny_vl_path, tiny_text_path, tmp_path):
    """Issue 15 #5 through the adapters: a hub id found only in ``cache_folder`` loads offline, so the model, the
    processor and the tokenizer all looked there (the suite runs with HF_HUB_OFFLINE=1)."""
    from qwen3_vl_rag.integrations.langchain import Qwen3SemanticChunker, Qwen3VLEmbeddings
    from qwen3_vl_rag.integrations.llama_index import Qwen3VLEmbedding, Qwen3VLRerank

    _hub_cache(tiny_vl_path, tmp_path, "tiny-org/tiny-vl")
    _hub_cache(tiny_text_path, tmp_path, "tiny-org/tiny-text")
    embedding = Qwen3VLEmbedding("tiny-org/tiny-vl", cache_folder=str(tmp_path))
    assert len(embedding.get_query_embedding("x")) == embedding.dimension
    assert Qwen3VLRerank("tiny-org/tiny-vl", cache_dir=str(tmp_path)).postprocess_nodes([], query_str="q") == []
    assert Qwen3VLEmbeddings(model_name="tiny-org/tiny-vl", cache_folder=str(tmp_path)).embed_query("x")
    chunker = Qwen3SemanticChunker("tiny-org/tiny-text", cache_folder=str(tmp_path), max_tokens=16)
    assert chunker.split_text("One sentence here. Another one there.")


@pytest.mark.parametrize(("package", "hidden", "extra"), [
    ("langchain", "langchain_core", "langchain"),
    ("langchain", "langchain_text_splitters", "langchain"),
    ("llama_index", "llama_index.core", "llama-index"),
])
def test_a_missing_framework_fails_the_import_naming_its_extra(package, hidden, extra):
    """Without the framework, importing its adapters is one ImportError that names the extra to install."""
    code = (f"import sys; sys.modules[{hidden!r}] = None\n"
            f"try:\n    import qwen3_vl_rag.integrations.{package}\n"
            f"except ImportError as exc:\n    print(exc)\nelse:\n    print('imported')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert hidden in out.stdout and f'pip install "qwen3-vl-rag[{extra}]"' in out.stdout, out.stdout
