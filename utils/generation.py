"""Text generation with a decoder: one token at a time, each drawn from the model's distribution.

The loop (chapter 07 writes it in the notebook first):

1. run the model on the sequence so far and keep the logits of the **last** position;
2. reshape that distribution: :func:`apply_repetition_penalty`, then ``temperature``, then
   :func:`top_k_filter` and :func:`top_p_filter` (the order of Hugging Face's ``generate``);
3. pick the next token: the most likely one when ``temperature == 0`` (greedy), else a draw;
4. append it and repeat.

With ``use_cache=True`` step 1 reads only the new token and keeps every layer's keys and values
in a :class:`utils.gpt.KVCache` ("prefill" the prompt once, then "decode" one position per step);
the tokens are the same as without it. Works with any model that has ``forward(idx, cache)``,
``new_cache()`` and ``context_length``: :class:`utils.gpt.GPT` and :class:`utils.llama.Llama`.
"""

from __future__ import annotations

import torch
from torch import nn

from .gpt import _check_idx


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row (ties with the k-th are kept); the others
    become ``-inf``. ``logits``: ``(..., vocab)``, returned with the same shape."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be an int >= 1, got {k!r}")
    if k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al., 2020): keep the smallest set of most likely tokens
    whose probabilities add up to at least ``p``; the others become ``-inf``.

    ``logits``: ``(..., vocab)``; ``p`` in (0, 1]. The most likely token is always kept.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p!r}")
    if p == 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above
    remove_sorted = mass_before >= p  # the set already reached p without this token
    remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
    return logits.masked_fill(remove, float("-inf"))


def apply_repetition_penalty(
    logits: torch.Tensor, previous: torch.Tensor, penalty: float
) -> torch.Tensor:
    """Make the tokens already in ``previous`` less likely (Keskar et al., 2019, CTRL): their
    logit is divided by ``penalty`` if positive, multiplied by it if negative.

    ``logits``: ``(batch, vocab)``; ``previous``: int64 ``(batch, seq)``; ``penalty`` ≥ 1 (1
    changes nothing). The same rule as ``transformers``' ``repetition_penalty``.
    """
    if not isinstance(penalty, (int, float)) or isinstance(penalty, bool) or penalty <= 0:
        raise ValueError(f"repetition_penalty must be a positive number, got {penalty!r}")
    if penalty == 1.0:
        return logits
    seen = logits.gather(-1, previous)  # (batch, seq): the logits of tokens already used
    seen = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits.scatter(-1, previous, seen)


def process_logits(
    logits: torch.Tensor,
    previous: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
) -> torch.Tensor:
    """Step 2 of the loop: the next-token logits ``(batch, vocab)`` after every knob.

    With ``temperature == 0`` only the repetition penalty applies (greedy takes the arg max).
    """
    logits = apply_repetition_penalty(logits, previous, repetition_penalty)
    if temperature == 0:
        return logits
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return logits


def _check_arguments(model, idx, max_new_tokens, temperature, top_k, top_p, penalty) -> None:
    for name in ("context_length", "new_cache"):
        if not hasattr(model, name):
            raise TypeError(
                f"generate() needs a model with forward(idx, cache), new_cache() and "
                f"context_length (utils.gpt.GPT, utils.llama.Llama); "
                f"{type(model).__name__} has no {name}"
            )
    _check_idx(idx)  # int64 (batch, seq), at least one token
    if idx.shape[1] > model.context_length:
        raise ValueError(
            f"the prompt has {idx.shape[1]} tokens, more than the model's context of "
            f"{model.context_length}"
        )
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or max_new_tokens < 0
    ):
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if (
        not isinstance(temperature, (int, float))
        or isinstance(temperature, bool)
        or temperature < 0
    ):
        raise ValueError(f"temperature must be >= 0 (0 is greedy), got {temperature!r}")
    if top_k is not None:
        top_k_filter(torch.zeros(1, 2), top_k)  # validates k
    if top_p is not None:
        top_p_filter(torch.zeros(1, 2), top_p)  # validates p
    apply_repetition_penalty(torch.zeros(1, 2), torch.zeros(1, 1, dtype=torch.int64), penalty)


@torch.no_grad()
def generate(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    use_cache: bool = True,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Continue the prompts ``idx`` (int64 ``(batch, seq)``) by ``max_new_tokens`` tokens.

    Returns ``(batch, seq + new)``: the prompts with the new tokens appended. ``temperature=0`` is
    greedy decoding. Once a row produces ``eos_id`` it is padded with ``eos_id``, and generation
    stops early when every row has. ``generator`` makes the draws repeatable.

    Past the model's context, each step reads the last ``context_length`` tokens (and the cache
    is refilled from them), so ``use_cache`` never changes the tokens.
    """
    _check_arguments(model, idx, max_new_tokens, temperature, top_k, top_p, repetition_penalty)
    was_training = model.training
    model.eval()
    context = model.context_length
    cache = model.new_cache() if use_cache else None
    done = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
    pending = idx  # the tokens the model has not read yet
    try:
        for _ in range(max_new_tokens):
            if cache is None:
                logits = model(idx[:, -context:])
            else:
                if len(cache) + pending.shape[1] > context:  # full: refill from the window
                    cache, pending = model.new_cache(), idx[:, -context:]
                logits = model(pending, cache)  # prefill (the prompt), then decode (1 token)
            logits = process_logits(
                logits[:, -1, :],
                idx,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                repetition_penalty=repetition_penalty,
            )
            if temperature == 0:
                next_id = logits.argmax(dim=-1, keepdim=True)  # (batch, 1)
            else:
                probs = logits.softmax(dim=-1)
                next_id = torch.multinomial(probs, num_samples=1, generator=generator)
            if eos_id is not None:
                next_id = next_id.masked_fill(done[:, None], eos_id)
                done |= next_id[:, 0] == eos_id
            idx = torch.cat([idx, next_id], dim=1)
            pending = next_id
            if eos_id is not None and bool(done.all()):
                break
    finally:
        model.train(was_training)
    return idx
