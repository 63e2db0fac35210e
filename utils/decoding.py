"""Turning an encoder-decoder model's next-token probabilities into an output sequence.

* :func:`greedy_decode`: at every step take the single most likely token.
* :func:`beam_search`: keep the ``beam_size`` most likely prefixes at every step, so a token
  that looks second-best now can still win if it leads to a better whole sequence. With
  ``beam_size=1`` it is greedy decoding. ``length_penalty`` (α) divides each finished
  sequence's log-probability by ``((5 + length) / 6)^α`` (Wu et al., 2016), so that longer
  outputs are not punished just for having more factors below 1.

Both work on a batch of sources at once and need a model with ``encode(src) → (memory,
src_mask)`` and ``decode(tgt, memory, src_mask) → logits``, as
:class:`utils.transformer.Transformer` has. No cache: each step re-runs the decoder on the
whole prefix, which is simple and fast enough for short outputs (chapter 07 adds a KV cache).

The model must be in eval mode (``model.eval()``): in training mode dropout would make every
step random, so both raise ``ValueError`` rather than decode with it.
"""

from __future__ import annotations

import torch

from .validation import check_non_negative_int, check_number, check_positive_int, check_tensor


def _check(model, src: torch.Tensor, max_len: int, bos_id: int, eos_id: int, caller: str) -> None:
    if getattr(model, "training", False):
        raise ValueError(
            f"{caller} needs the model in eval mode, got a model in training mode (dropout "
            "would make every step random): call model.eval() first"
        )
    check_tensor("src", src, ndim=2, dims="(batch, seq) of token ids")
    check_positive_int("max_len", max_len)
    check_non_negative_int("bos_id", bos_id)
    check_non_negative_int("eos_id", eos_id)
    if bos_id == eos_id:
        raise ValueError(f"bos_id and eos_id must differ, both are {bos_id}")


@torch.no_grad()
def greedy_decode(
    model, src: torch.Tensor, *, bos_id: int, eos_id: int, max_len: int = 50
) -> torch.Tensor:
    """``src`` ``(batch, seq_s)`` → output ids ``(batch, ≤ max_len)`` without ``<bos>``; each row
    ends with ``eos_id`` (then ``model.pad_id``) unless it reached ``max_len`` first. The model
    must be in eval mode."""
    _check(model, src, max_len, bos_id, eos_id, "greedy_decode")
    memory, src_mask = model.encode(src)
    out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
    done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        next_id = model.decode(out, memory, src_mask)[:, -1].argmax(-1)  # (batch,)
        next_id = next_id.masked_fill(done, model.pad_id)
        out = torch.cat([out, next_id[:, None]], dim=1)
        done |= next_id == eos_id
        if done.all():
            break
    return out[:, 1:]


@torch.no_grad()
def beam_search(
    model,
    src: torch.Tensor,
    *,
    bos_id: int,
    eos_id: int,
    beam_size: int = 4,
    max_len: int = 50,
    length_penalty: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search for a batch of sources ``src`` ``(batch, seq_s)``.

    Returns ``(sequences, scores)``: ids ``(batch, beam_size, ≤ max_len)`` without ``<bos>``
    (padded with ``model.pad_id`` after ``<eos>``), best first, and their scores
    ``(batch, beam_size)``: the sum of log-probabilities, divided by the length penalty when
    ``length_penalty > 0``. ``sequences[:, 0]`` is the answer. The model must be in eval mode.

    Every row of the batch is searched on its own: the result equals a call per row (up to
    padding columns at the end).
    """
    _check(model, src, max_len, bos_id, eos_id, "beam_search")
    check_positive_int("beam_size", beam_size)
    check_number("length_penalty", length_penalty, low=0)
    batch, k = src.shape[0], beam_size
    memory, src_mask = model.encode(src)
    memory = memory.repeat_interleave(k, dim=0)  # (batch * k, seq_s, d_model)
    src_mask = src_mask.repeat_interleave(k, dim=0)
    seqs = torch.full((batch * k, 1), bos_id, dtype=torch.long, device=src.device)
    # Only the first beam is alive at the start, so the k beams do not all pick the same token.
    logp = torch.full((batch, k), float("-inf"), device=src.device)
    logp[:, 0] = 0.0
    done = torch.zeros(batch * k, dtype=torch.bool, device=src.device)
    lengths = torch.zeros(batch * k, device=src.device)  # tokens generated, <eos> included
    for _ in range(max_len):
        step = model.decode(seqs, memory, src_mask)[:, -1].log_softmax(-1)  # (batch*k, V)
        vocab = step.shape[-1]
        # A finished beam continues only with padding, at no cost, so it keeps its score.
        frozen = torch.full_like(step, float("-inf"))
        frozen[:, model.pad_id] = 0.0
        step = torch.where(done[:, None], frozen, step)
        total = logp.reshape(-1, 1) + step  # (batch*k, V)
        new_len = lengths[:, None] + (~done[:, None]).float()
        ranked = _normalise(total, new_len.expand_as(total), length_penalty)
        top = ranked.reshape(batch, k * vocab).topk(k, dim=-1).indices  # (batch, k)
        beam = top // vocab + torch.arange(batch, device=src.device)[:, None] * k
        token = top % vocab
        beam, token = beam.reshape(-1), token.reshape(-1)
        logp = total[beam, token].reshape(batch, k)
        lengths = new_len[beam, 0]
        seqs = torch.cat([seqs[beam], token[:, None]], dim=1)
        done = done[beam] | (token == eos_id)
        if done.all():
            break
    scores = _normalise(logp.reshape(-1), lengths, length_penalty).reshape(batch, k)
    order = scores.argsort(dim=-1, descending=True)
    seqs = seqs[:, 1:].reshape(batch, k, -1)
    return seqs.gather(1, order[..., None].expand_as(seqs)), scores.gather(1, order)


def _normalise(logp: torch.Tensor, length: torch.Tensor, alpha: float) -> torch.Tensor:
    if alpha == 0:
        return logp
    return logp / ((5 + length) / 6) ** alpha


def exact_match(predicted: list[str], expected: list[str]) -> float:
    """The fraction of outputs that equal the reference exactly."""
    if len(predicted) != len(expected) or not expected:
        raise ValueError(
            f"need two equally long, non-empty lists, got {len(predicted)} and {len(expected)}"
        )
    return sum(p == e for p, e in zip(predicted, expected, strict=True)) / len(expected)


def translate(
    model,
    src: torch.Tensor,
    vocab,
    *,
    beam_size: int = 1,
    length_penalty: float = 0.0,
    max_len: int = 40,
) -> list[str]:
    """Source ids ``(batch, seq_s)`` → one output string per row: greedy decoding when
    ``beam_size == 1``, else the best beam. ``vocab`` (a :class:`utils.seq2seq.WordVocab`)
    gives the ``<bos>``/``<eos>`` ids and turns ids back into text. ``length_penalty`` needs a
    beam: with ``beam_size == 1`` it must be 0."""
    if beam_size == 1 and length_penalty != 0:
        raise ValueError(
            f"length_penalty={length_penalty} has no effect on greedy decoding; use beam_size > 1"
        )
    ids = dict(bos_id=vocab.bos_id, eos_id=vocab.eos_id, max_len=max_len)
    if beam_size == 1:
        out = greedy_decode(model, src, **ids)
    else:
        beams, _ = beam_search(
            model, src, beam_size=beam_size, length_penalty=length_penalty, **ids
        )
        out = beams[:, 0]
    return [vocab.decode(row) for row in out]
