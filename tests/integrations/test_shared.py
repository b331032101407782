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
