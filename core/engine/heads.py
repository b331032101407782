"""What the models compute from hidden states: the pooled last token and the yes/no relevance head.

The relevance head is one row, ``W_yes - W_no``, instead of logits over the whole vocabulary:
sigmoid((W_yes - W_no) . h) equals softmax([logit_no, logit_yes])[yes], the official score.
"""

from __future__ import annotations

from typing import Any


def last_token(hidden: Any, lengths: Any, rows: Any = None) -> Any:
    """Hidden state at each sequence's last position: column ``lengths[i] - 1`` of row ``rows[i]``.

    Right-padded batches hold sequence i in row i (``rows`` None); packed rows hold several sequences,
    so ``lengths`` are their end columns and ``rows`` their rows.
    """
    import torch

    if rows is None:
        rows = torch.arange(hidden.shape[0], device=hidden.device)
    cols = torch.as_tensor(lengths, device=hidden.device) - 1
    return hidden[torch.as_tensor(rows, device=hidden.device), cols]


def single_token_id(tokenizer: Any, text: str) -> int:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ValueError(f"{text!r} must be one token in this vocabulary, got {ids}")
    return int(ids[0])


def yes_no_head(lm_head_weight: Any, tokenizer: Any) -> Any:
    """The difference row of the language-model head, kept in float32 (a quantized head is refused: its
    stored bytes are not the weights)."""
    if not lm_head_weight.is_floating_point():
        raise ValueError(f"the lm_head is quantized ({lm_head_weight.dtype}); the relevance head needs its float "
                         "rows: keep lm_head unquantized (e.g. llm_int8_skip_modules=['lm_head'])")
    yes, no = single_token_id(tokenizer, "yes"), single_token_id(tokenizer, "no")
    return (lm_head_weight[yes].float() - lm_head_weight[no].float()).detach().clone()


def pooled(hidden_last: Any) -> Any:
    """Embedding head: the pooled hidden states in float32 (normalised later, after MRL truncation)."""
    return hidden_last.float()


class RelevanceHead:
    """P(yes) for each row of pooled hidden states (float32, in [0, 1])."""

    def __init__(self, row: Any):
        self.row = row

    def __call__(self, hidden_last: Any) -> Any:
        import torch

        logits = hidden_last.float() @ self.row.to(hidden_last.device)
        return torch.sigmoid(logits)
