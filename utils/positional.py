"""Positional encodings: how a transformer learns the order of its tokens.

Self-attention treats its input as a *set*: permute the tokens and the outputs are permuted the
same way, nothing else changes. Chapter 03 shows this and adds position information in three
ways:

* :func:`sinusoidal_positional_encoding` (fixed, "Attention Is All You Need", section 3.5)::

      PE[pos, 2i]   = sin(pos / base**(2i / d_model))
      PE[pos, 2i+1] = cos(pos / base**(2i / d_model))

  and :class:`SinusoidalPositionalEncoding`, the layer that adds it to token embeddings.
  :func:`shift_matrix` is the fixed linear map with ``PE[pos + k] = PE[pos] @ shift_matrix(k).T``
  for every ``pos``: relative positions are a linear function of absolute ones.
* :class:`LearnedPositionalEmbedding` (BERT, GPT-2): one trained vector per position, up to a
  fixed ``max_len``.
* :func:`apply_rotary` (RoPE, used by LLaMA and SmolLM2; chapter 07): rotate queries and keys by
  an angle proportional to their position, so that ``q·k`` depends on the distance only.

``d_model`` must be even for the sinusoidal and rotary encodings (their dimensions come in
(sin, cos) pairs); an odd value raises ``ValueError``.
"""

from __future__ import annotations

import torch
from torch import nn

from .validation import (
    check_int,
    check_number,
    check_positive_int,
    check_shape,
    check_tensor,
    check_type,
)

#: The old name of :func:`utils.validation.check_positive_int`, kept for the modules that import
#: it from here.
_check_positive_int = check_positive_int


def _check_even(d_model: object) -> None:
    check_positive_int("d_model", d_model)
    if d_model % 2:  # type: ignore[operator]
        raise ValueError(
            f"d_model must be even (dimensions come in sin/cos pairs), got {d_model}; "
            "use an even size such as d_model + 1"
        )


def frequencies(d_model: int, base: float = 10000.0) -> torch.Tensor:
    """The angular frequency of each (sin, cos) pair, float64 ``(d_model // 2,)``:
    ``ω_i = base**(-2i / d_model)``, from 1 (one turn every 2π positions) down to almost
    ``1 / base``."""
    _check_even(d_model)
    check_number("base", base, low=1, low_open=True)
    return base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)


def sinusoidal_positional_encoding(
    max_len: int, d_model: int, base: float = 10000.0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The table of sinusoidal encodings, ``(max_len, d_model)``: even columns
    ``sin(pos·ω_i)``, odd columns ``cos(pos·ω_i)`` (see :func:`frequencies`)."""
    check_positive_int("max_len", max_len)
    omega = frequencies(d_model, base)  # (d/2,)
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * omega  # (max_len, d/2)
    pe = torch.empty(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe.to(dtype)


def shift_matrix(k: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """The ``(d_model, d_model)`` matrix ``M_k`` with ``PE[pos + k] = M_k @ PE[pos]`` for every
    ``pos``: block-diagonal, one 2×2 rotation by angle ``k·ω_i`` per (sin, cos) pair.

    It follows from ``sin(a + b) = sin a cos b + cos a sin b`` and
    ``cos(a + b) = cos a cos b - sin a sin b``; it does not depend on ``pos``.
    """
    check_int("k", k)
    omega = frequencies(d_model, base)
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    c, s = torch.cos(k * omega), torch.sin(k * omega)
    i = torch.arange(0, d_model, 2)
    m[i, i], m[i, i + 1] = c, s  # new sin = sin·cos(kω) + cos·sin(kω)
    m[i + 1, i], m[i + 1, i + 1] = -s, c  # new cos = cos·cos(kω) - sin·sin(kω)
    return m


def _check_sequence(x: torch.Tensor, d_model: int, max_len: int, what: str) -> None:
    check_shape("x", x, (None, None, d_model), dims=f"(batch, seq, d_model={d_model})")
    if x.shape[1] > max_len:
        raise ValueError(
            f"{what}: sequence length {x.shape[1]} is longer than max_len={max_len}; "
            "build the layer with a larger max_len"
        )


class SinusoidalPositionalEncoding(nn.Module):
    """``x + PE[:seq]``, then dropout. ``x``: ``(batch, seq, d_model)``. No parameters: the
    table is a float64 buffer (it moves with ``.to(device)`` but is not trained), cast to the
    dtype of ``x``."""

    def __init__(
        self, d_model: int, max_len: int = 512, dropout: float = 0.0, base: float = 10000.0
    ) -> None:
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.register_buffer(
            "pe",
            sinusoidal_positional_encoding(max_len, d_model, base, dtype=torch.float64),
            persistent=False,
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_sequence(x, self.d_model, self.max_len, "SinusoidalPositionalEncoding")
        return self.dropout(x + self.pe[: x.shape[1]].to(x.dtype))


class LearnedPositionalEmbedding(nn.Module):
    """``x + P[:seq]`` with ``P`` a trained ``(max_len, d_model)`` table (BERT, GPT-2), then
    dropout. Positions at or past ``max_len`` do not exist: a longer input raises
    ``ValueError``."""

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0) -> None:
        super().__init__()
        check_positive_int("d_model", d_model)
        check_positive_int("max_len", max_len)
        self.d_model, self.max_len = d_model, max_len
        self.embedding = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.embedding.weight, std=0.02)  # as GPT-2 and BERT
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_sequence(x, self.d_model, self.max_len, "LearnedPositionalEmbedding")
        positions = torch.arange(x.shape[1], device=x.device)
        return self.dropout(x + self.embedding(positions))


def apply_rotary(
    x: torch.Tensor, positions: torch.Tensor | None = None, base: float = 10000.0
) -> torch.Tensor:
    """Rotary position embedding (RoPE, Su et al. 2021): rotate each pair of dimensions
    ``(x[2i], x[2i+1])`` of the vector at position ``p`` by the angle ``p·ω_i``.

    ``x``: ``(..., seq, d)`` with even ``d``; ``positions``: int tensor ``(seq,)`` (default
    ``0..seq-1``). Because rotations compose, ``apply_rotary(q at m) · apply_rotary(k at n)``
    depends only on ``m - n``.

    This is the interleaved form of the RoFormer paper (and of Meta's LLaMA code). Hugging Face's
    Llama implementation (``rotate_half``) pairs ``x[i]`` with ``x[i + d/2]`` instead; the two
    agree only after the query and key weights are permuted accordingly, which the Hub's
    converted checkpoints have done.
    """
    check_tensor("x", x, min_ndim=2, dims="a tensor (..., seq, d)")
    seq, d = x.shape[-2], x.shape[-1]
    if d % 2:
        raise ValueError(f"the last dimension of x must be even (pairs are rotated), got {d}")
    omega = frequencies(d, base).to(x.device)
    if positions is None:
        positions = torch.arange(seq, device=x.device)
    check_type("positions", positions, torch.Tensor, "a tensor (seq,) of positions")
    check_shape("positions", positions, (seq,), dims=f"(seq={seq},)")
    angles = positions.to(x.device, torch.float64)[:, None] * omega  # (seq, d/2)
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out
