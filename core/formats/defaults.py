"""Defaults and special tokens of the released Qwen3-VL / Qwen3 embedding and reranking models (reference §1-§4)."""

IMAGE_FACTOR = 32  # patch 16 x spatial merge 2
MIN_PIXELS = 4 * IMAGE_FACTOR * IMAGE_FACTOR  # 4,096
MAX_PIXELS = 1800 * IMAGE_FACTOR * IMAGE_FACTOR  # 1,843,200: at most 1,800 visual tokens per image
FRAME_MAX_PIXELS = 768 * IMAGE_FACTOR * IMAGE_FACTOR
TOTAL_PIXELS = 10 * FRAME_MAX_PIXELS  # 7,864,320 per video
FPS = 1.0
MAX_FRAMES = 64
NUM_FRAMES = 64
VL_EMBED_MAX_LENGTH = 8192

VL_EMBED_DEFAULT_INSTRUCTION = "Represent the user's input."
DEFAULT_QUERY_INSTRUCTION = "Retrieve images or text relevant to the user's query."
TEXT_EMBED_DEFAULT_TASK = "Given a web search query, retrieve relevant passages that answer the query"
TEXT_EMBED_MAX_LENGTH = 8192

EMPTY_ITEM_TEXT = "NULL"  # what the official embedder renders for an item with no content

IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
ENDOFTEXT = "<|endoftext|>"

RERANK_MAX_LENGTH = 10240
RERANK_DEFAULT_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."
RERANK_SYSTEM_PROMPT = (
    'Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
    'Note that the answer can only be "yes" or "no".'
)
TEXT_RERANK_MAX_LENGTH = 8192
TEXT_RERANK_DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
