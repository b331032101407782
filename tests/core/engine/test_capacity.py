"""Device-aware batch limits: the documented rule, computed from a model config and free memory."""

from types import SimpleNamespace

from qwen3_vl_rag.core.engine.capacity import CPU_BATCH_SIZE, CPU_BATCH_TOKENS, bytes_per_token, device_batch_limits

QWEN3_VL_2B_TEXT = SimpleNamespace(text_config=SimpleNamespace(hidden_size=2048, intermediate_size=6144))
QWEN3_8B = SimpleNamespace(hidden_size=4096, intermediate_size=12288)


def test_cpu_keeps_the_measured_defaults():
    assert device_batch_limits(QWEN3_VL_2B_TEXT, "cpu", 4, None) == (CPU_BATCH_TOKENS, CPU_BATCH_SIZE) == (16384, 64)


def test_cuda_budget_follows_free_memory_and_model_width():
    gib = 1024 ** 3
    assert bytes_per_token(QWEN3_VL_2B_TEXT, 2) == (4 * 2048 + 3 * 6144) * 2
    big, rows = device_batch_limits(QWEN3_VL_2B_TEXT, "cuda:0", 2, 70 * gib)
    assert rows == 256 and big == 262144  # clamped at the top
    small, _ = device_batch_limits(QWEN3_8B, "cuda", 2, 8 * gib)
    assert small < big and small & (small - 1) == 0  # a power of two
    assert small <= 0.25 * 8 * gib / bytes_per_token(QWEN3_8B, 2) < 2 * small
    assert device_batch_limits(QWEN3_8B, "cuda", 2, 1 * gib)[0] == 16384  # clamped at the bottom
