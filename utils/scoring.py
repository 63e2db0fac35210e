"""Log-probabilities of chosen tokens under a causal language model (chapter 09).

One small computation sits under several things chapter 09 does with an LLM:

* scoring the answers of a multiple-choice question by their log-likelihood (how benchmarks
  such as MMLU or HellaSwag are evaluated),
* perplexity on held-out text,
* the loss of instruction tuning, counted on the answer tokens only,
* the DPO loss, which compares the log-probability of a chosen and a rejected answer.

All of them need, for every position ``t``, ``log p(labels[t] | tokens < t)``. Causal LMs predict
the *next* token, so the logits at position ``t - 1`` score the label at position ``t`` (the
"shift"). Labels equal to ``IGNORE_INDEX`` (-100, PyTorch's and Hugging Face's convention) are
not counted: the prompt, padding, or anything else that is only context.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100


def _check_logits_labels(logits: object, labels: object) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a tensor of shape (batch, seq, vocab), got {shape}")
    if not isinstance(labels, torch.Tensor) or labels.dim() != 2:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a tensor of shape (batch, seq), got {shape}")
    if labels.shape != logits.shape[:2]:
        raise ValueError(
            f"labels {tuple(labels.shape)} must match the first two dimensions of "
            f"logits {tuple(logits.shape)}"
        )
    if labels.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"labels must hold integer token ids, got dtype {labels.dtype}")


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each label under the logits one position earlier.

    Parameters
    ----------
    logits:
        ``(batch, seq, vocab)``, a causal LM's output for the input ids.
    labels:
        ``(batch, seq)``, usually the input ids with context positions set to ``IGNORE_INDEX``.

    Returns
    -------
    (logprobs, mask)
        Both ``(batch, seq - 1)``: ``logprobs[b, t] = log p(labels[b, t + 1] | ids[b, :t + 1])``
        (0 where the label is ignored) and ``mask[b, t]``, True where the label counts.
    """
    _check_logits_labels(logits, labels)
    targets = labels[:, 1:]
    mask = targets != IGNORE_INDEX
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = logp.gather(-1, targets.clamp(min=0).long().unsqueeze(-1)).squeeze(-1)
    return picked * mask, mask


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum of the counted labels' log-probabilities, one number per row: ``(batch,)``.

    ``log p(answer | prompt)`` when only the answer's tokens are labelled.
    """
    logprobs, _ = token_logprobs(logits, labels)
    return logprobs.sum(dim=-1)


def mean_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood over all counted labels of the batch (a scalar).

    Equal to Hugging Face's ``model(input_ids, labels=labels).loss``; ``exp`` of it is the
    perplexity.
    """
    logprobs, mask = token_logprobs(logits, labels)
    count = mask.sum()
    if count == 0:
        raise ValueError("no label is counted: every label is IGNORE_INDEX")
    return -logprobs.sum() / count
