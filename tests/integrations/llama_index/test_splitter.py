"""Qwen3SemanticSplitter: exact offsets, metadata-aware token bound, image pass-through, index-ready nodes."""

from __future__ import annotations

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import Document, ImageDocument, ImageNode, MetadataMode, NodeRelationship, TextNode

from qwen3_vl_rag.core.chunking import token_counter_from_tokenizer
from qwen3_vl_rag.integrations.llama_index import Qwen3SemanticSplitter

TOPICS = ["mountains and hiking"] * 12 + ["revenue and quarterly sales"] * 12
LONG = " ".join(f"Sentence {i} talks about {topic}." for i, topic in enumerate(TOPICS)) + " Repeat. Repeat. Repeat."


def count(splitter, text):
    return splitter._count_tokens([text])[0]


def test_offsets_point_into_the_source_and_chunks_fit_with_metadata(splitter):
    doc = Document(text=LONG, metadata={"file_name": "long.txt", "author": "someone"})
    nodes = splitter.get_nodes_from_documents([doc])
    assert len(nodes) > 1
    for node in nodes:
        assert doc.text[node.start_char_idx:node.end_char_idx] == node.text
        assert node.metadata == doc.metadata  # metadata flows through build_nodes_from_splits
        assert node.relationships[NodeRelationship.SOURCE].node_id == doc.doc_id
        assert count(splitter, node.get_content(metadata_mode=MetadataMode.EMBED)) <= splitter.max_tokens + 1
        assert count(splitter, node.text) <= splitter.max_tokens - count(
            splitter, doc.text_template.format(metadata_str=doc.get_metadata_str(MetadataMode.EMBED), content=""))
    assert nodes[1].relationships[NodeRelationship.PREVIOUS].node_id == nodes[0].node_id
    # the chunks cover the text in order, without overlap
    assert all(a.end_char_idx <= b.start_char_idx for a, b in zip(nodes, nodes[1:]))
    repeats = [n for n in nodes if n.text.strip() == "Repeat."]
    assert len({n.start_char_idx for n in repeats}) == len(repeats)  # repeated text keeps its own offset


def test_more_metadata_means_smaller_chunks(splitter):
    plain = splitter.get_nodes_from_documents([Document(text=LONG)])
    doc = Document(text=LONG, metadata={"summary": "word " * 6})
    overhead = count(splitter, doc.text_template.format(metadata_str=doc.get_metadata_str(MetadataMode.EMBED),
                                                        content=""))
    assert 10 < overhead < 50
    heavy = splitter.get_nodes_from_documents([doc])
    assert max(count(splitter, n.text) for n in heavy) <= 64 - overhead
    assert len(heavy) > len(plain)
    excluded = Document(text=LONG, metadata={"summary": "word " * 6}, excluded_embed_metadata_keys=["summary"])
    assert len(splitter.get_nodes_from_documents([excluded])) == len(plain)


def test_metadata_over_the_budget_is_a_clear_error(splitter):
    with pytest.raises(ValueError, match="metadata of node .* leaving none of max_tokens=64"):
        splitter.get_nodes_from_documents([Document(text=LONG, metadata={"summary": "word " * 100})])


def test_images_pass_through_and_empty_documents_give_no_nodes(splitter, image_paths):
    image_node = ImageNode(image_path=image_paths[0], text="a caption that stays whole")
    image_doc = ImageDocument(image_path=image_paths[1], metadata={"file_name": "p1.png"})
    nodes = splitter([Document(text=""), Document(text="   \n "), image_node, image_doc, Document(text="Short one.")])
    assert nodes[0] is image_node and image_node.start_char_idx is None
    assert isinstance(nodes[1], ImageNode) and nodes[1].image_path == image_paths[1]
    assert nodes[1].metadata == {"file_name": "p1.png"}
    assert nodes[1].relationships[NodeRelationship.SOURCE].node_id == image_doc.doc_id
    assert [type(n) for n in nodes[2:]] == [TextNode] and nodes[2].text == "Short one."
    assert splitter.get_nodes_from_documents([Document(text="")]) == []


def test_nodes_feed_a_vector_store_index(splitter, embed_model):
    docs = [Document(text=LONG, metadata={"file_name": "long.txt"}), Document(text="Solar panels make power.")]
    nodes = splitter(docs)
    index = VectorStoreIndex(nodes, embed_model=embed_model)
    hits = index.as_retriever(similarity_top_k=len(nodes)).retrieve("revenue")
    assert sorted(h.node.node_id for h in hits) == sorted(n.node_id for n in nodes)
    for hit in hits:
        source = next(d for d in docs if d.doc_id == hit.node.ref_doc_id)
        assert source.text[hit.node.start_char_idx:hit.node.end_char_idx] == hit.node.text


def test_async_parse_matches_sync(splitter):
    import asyncio

    doc = Document(text=LONG)
    sync = [(n.text, n.start_char_idx) for n in splitter.get_nodes_from_documents([doc])]
    async_ = [(n.text, n.start_char_idx) for n in asyncio.run(splitter.aget_nodes_from_documents([doc]))]
    assert sync == async_


def test_built_from_a_path_with_vl_counter_and_round_trip(tiny_text_path, vl_embedder, text_embedder):
    splitter = Qwen3SemanticSplitter(str(tiny_text_path), max_tokens=48, breakpoint_type="standard_deviation",
                                     embedder_kwargs={"device": "cpu"})
    data = splitter.to_dict()
    assert data["class_name"] == Qwen3SemanticSplitter.class_name() == "Qwen3SemanticSplitter"
    copy = Qwen3SemanticSplitter.from_dict(data)
    assert (copy.max_tokens, copy.breakpoint_type, copy.model_name) == (48, "standard_deviation", str(tiny_text_path))
    assert copy.split_text(LONG) == splitter.split_text(LONG)

    vl_counter = token_counter_from_tokenizer(vl_embedder.encoder.tokenizer)
    custom = Qwen3SemanticSplitter(embedder=text_embedder, count_tokens=vl_counter, max_tokens=40)
    assert all(vl_counter([c])[0] <= 40 for c in custom.split_text(LONG))
    with pytest.raises(ValueError, match="breakpoint_type"):
        Qwen3SemanticSplitter(embedder=text_embedder, breakpoint_type="nonsense")
    with pytest.raises(TypeError, match="embed_documents"):
        Qwen3SemanticSplitter(embedder=object())


MARKDOWN = (
    "# Guide\n\nThe guide explains the mountains and hiking routes. It lists the huts.\n\n"
    "## Sales\n\nRevenue and quarterly sales grew. The eastern region led.\n\n"
    "```python\nprint('revenue')\n```"
)


def test_heading_path_goes_to_metadata_and_fits_with_it(splitter):
    with_path = Qwen3SemanticSplitter(embedder=splitter._embedder, max_tokens=64, heading_path=True)
    doc = Document(text=MARKDOWN, metadata={"file_name": "guide.md"})
    nodes = with_path.get_nodes_from_documents([doc])
    assert any(n.metadata.get("heading_path") == "Guide" for n in nodes)
    assert any(n.metadata.get("heading_path") == "Guide > Sales" for n in nodes)
    assert doc.metadata == {"file_name": "guide.md"}  # each node has its own metadata dict
    for node in nodes:
        assert doc.text[node.start_char_idx:node.end_char_idx] == node.text
        embedded = node.get_content(metadata_mode=MetadataMode.EMBED)
        assert node.metadata.get("heading_path", "") in embedded
        assert count(with_path, embedded) <= 64 + 1
    off = Qwen3SemanticSplitter(embedder=splitter._embedder, max_tokens=64)
    assert all("heading_path" not in n.metadata for n in off.get_nodes_from_documents([doc]))
