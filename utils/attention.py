"""Attention from scratch: scaled dot-product attention, masks, and multi-head attention.

"An attention function can be described as mapping a query and a set of key-value pairs to an
output ... computed as a weighted sum of the values, where the weight assigned to each value is
computed by a compatibility function of the query with the corresponding key." (Vaswani et al.,
2017, section 3.2)

* :func:`scaled_dot_product_attention` computes ``softmax(Q Kᵀ / √d_k) V`` and returns the
  weights too, so that they can be looked at.
* Masks are boolean and ``True`` where attention is **allowed** (the convention of
  ``torch.nn.functional.scaled_dot_product_attention``; note that ``torch.nn.MultiheadAttention``
  uses the opposite one). :func:`causal_mask` builds the look-ahead mask and
  :func:`padding_mask` the one that hides padding tokens.
* :class:`MultiHeadAttention` projects queries, keys and values, runs ``num_heads`` attentions
  in parallel and projects their concatenation back, as ``torch.nn.MultiheadAttention`` (with
  ``batch_first=True``) does. :meth:`MultiHeadAttention.from_torch` copies PyTorch's weights.
* :class:`CausalSelfAttention` is multi-head self-attention with the look-ahead mask built in.

A query whose mask row allows no key at all gets weights of 0 and an output of 0, as in
PyTorch's ``scaled_dot_product_attention`` since version 2.5 (``nn.MultiheadAttention`` returns
NaN there).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .validation import (
    INTEGER_DTYPES,
    check_dtype,
    check_positive_int,
    check_probability,
    check_shape,
    check_tensor,
    check_type,
)


def _shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def _check_mask(mask: torch.Tensor, scores_shape: torch.Size) -> torch.Tensor:
    what = "a bool tensor, True where attention is allowed"
    check_type("mask", mask, torch.Tensor, what)
    check_dtype("mask", mask, torch.bool, what)
    try:
        shape = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        shape = None
    if shape != scores_shape:
        raise ValueError(
            f"mask of shape {_shape(mask)} does not broadcast to the attention scores' shape "
            f"(..., seq_q, seq_k) = {tuple(scores_shape)}"
        )
    return mask


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q kᵀ / √d_k) v``, with an optional mask and dropout on the weights.

    Shapes: ``q (..., seq_q, d_k)``, ``k (..., seq_k, d_k)``, ``v (..., seq_k, d_v)``, the
    leading dimensions broadcastable (batch, heads, ...). ``mask`` is boolean, ``True`` where a
    query may attend to a key, broadcastable to ``(..., seq_q, seq_k)``.

    Returns ``(output (..., seq_q, d_v), weights (..., seq_q, seq_k))``. Each row of ``weights``
    sums to 1, except rows whose mask allows nothing, which are all 0. With ``dropout_p > 0``
    (training), weights are dropped and rescaled, and the returned weights are those used.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, t, min_ndim=2, dims="a tensor (..., seq, dim)")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must have the same last dimension d_k: q {_shape(q)}, k {_shape(k)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of positions seq_k: k {_shape(k)}, v {_shape(v)}"
        )
    try:
        torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(
            "the leading (batch, heads, ...) dimensions of q, k and v must broadcast: "
            f"q {_shape(q)}, k {_shape(k)}, v {_shape(v)}"
        ) from None
    check_probability("dropout_p", dropout_p)
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., seq_q, seq_k)
    if mask is not None:
        mask = _check_mask(mask, scores.shape)
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:  # a row with nothing allowed is all -inf: softmax gives NaN, use 0
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    if dropout_p > 0:
        weights = nn.functional.dropout(weights, p=dropout_p)
    return weights @ v, weights


def causal_mask(seq_len: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The look-ahead mask, bool ``(seq_len, seq_len)``: position ``i`` may attend to ``j ≤ i``.
    ``True`` on and below the diagonal."""
    check_positive_int("seq_len", seq_len)
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()


def padding_mask(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Hide padding keys: token ids ``(batch, seq_k)`` → bool ``(batch, 1, seq_k)``, ``False``
    where ``ids == pad_id``. It broadcasts against scores ``(batch, seq_q, seq_k)``, and
    :class:`MultiHeadAttention` adds the heads dimension itself. Combine with a causal mask by
    ``&``."""
    check_tensor("ids", ids, ndim=2, dims="(batch, seq)")
    check_dtype("ids", ids, INTEGER_DTYPES, "integer token ids")
    return (ids != pad_id).unsqueeze(1)


class MultiHeadAttention(nn.Module):
    """Multi-head attention, batch-first, as ``torch.nn.MultiheadAttention(batch_first=True)``.

    ``MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W_O`` with
    ``head_i = Attention(Q W_Q^i, K W_K^i, V W_V^i)``, each head of size
    ``d_k = d_model / num_heads``. The per-head projections are done as one
    ``d_model × d_model`` linear layer each (``q_proj``, ``k_proj``, ``v_proj``) whose output is
    split into heads; ``out_proj`` is ``W_O``.
    """

    def __init__(
        self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        check_positive_int("d_model", d_model)
        check_positive_int("num_heads", num_heads)
        if d_model % num_heads:
            raise ValueError(
                f"d_model={d_model} is not divisible by num_heads={num_heads}: each head gets "
                "d_model / num_heads dimensions"
            )
        check_probability("dropout", dropout)
        self.d_model, self.num_heads, self.d_k = d_model, num_heads, d_model // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, seq, d_model)`` → ``(batch, num_heads, seq, d_k)``."""
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.num_heads, self.d_k).transpose(1, 2)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, num_heads, seq, d_k)`` → ``(batch, seq, d_model)``."""
        batch, _, seq, _ = x.shape
        return x.transpose(1, 2).reshape(batch, seq, self.d_model)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``query (batch, seq_q, d_model)``, ``key``/``value (batch, seq_k, d_model)``.

        ``mask``: bool, ``True`` = allowed, broadcastable to ``(batch, seq_q, seq_k)`` (the same
        for every head) or to ``(batch, num_heads, seq_q, seq_k)``. A mask with 3 or fewer
        dimensions is always read as ``(batch, seq_q, seq_k)``; a per-head mask must have 4.

        Returns ``(output (batch, seq_q, d_model), weights (batch, num_heads, seq_q, seq_k))``.
        """
        for name, t in (("query", query), ("key", key), ("value", value)):
            check_shape(
                name, t, (None, None, self.d_model), dims=f"(batch, seq, d_model={self.d_model})"
            )
        if key.shape[:2] != value.shape[:2] or query.shape[0] != key.shape[0]:
            raise ValueError(
                "query, key and value must share the batch size, and key and value the length: "
                f"query {_shape(query)}, key {_shape(key)}, value {_shape(value)}"
            )
        q = self.split_heads(self.q_proj(query))  # (batch, heads, seq_q, d_k)
        k = self.split_heads(self.k_proj(key))  # (batch, heads, seq_k, d_k)
        v = self.split_heads(self.v_proj(value))  # (batch, heads, seq_k, d_k)
        if mask is not None:
            check_type("mask", mask, torch.Tensor, "a bool tensor, True where attention is allowed")
            batch, seq_q, seq_k = query.shape[0], query.shape[1], key.shape[1]
            expected = (
                (batch, seq_q, seq_k) if mask.dim() <= 3 else (batch, self.num_heads, seq_q, seq_k)
            )
            _check_mask(mask, torch.Size(expected))
            if mask.dim() <= 3:
                mask = mask.unsqueeze(-3)  # the same mask for every head
        p = self.dropout if self.training else 0.0
        out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p=p)
        return self.out_proj(self.merge_heads(out)), weights

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """A copy of ``torch.nn.MultiheadAttention``'s weights (its ``in_proj_weight`` stacks
        W_Q, W_K and W_V as one ``(3 d_model, d_model)`` matrix)."""
        check_type("mha", mha, nn.MultiheadAttention, "a torch.nn.MultiheadAttention")
        if mha.in_proj_weight is None:
            raise ValueError("only MultiheadAttention with kdim == vdim == embed_dim is supported")
        if mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError("add_bias_kv and add_zero_attn are not supported")
        ours = cls(mha.embed_dim, mha.num_heads, mha.dropout, bias=mha.in_proj_bias is not None)
        with torch.no_grad():
            w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
            for proj, w in ((ours.q_proj, w_q), (ours.k_proj, w_k), (ours.v_proj, w_v)):
                proj.weight.copy_(w)
            ours.out_proj.weight.copy_(mha.out_proj.weight)
            if mha.in_proj_bias is not None:
                b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
                for proj, b in ((ours.q_proj, b_q), (ours.k_proj, b_k), (ours.v_proj, b_v)):
                    proj.bias.copy_(b)
                ours.out_proj.bias.copy_(mha.out_proj.bias)
        return ours.to(device=mha.in_proj_weight.device, dtype=mha.in_proj_weight.dtype)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, d_k={self.d_k}"


class CausalSelfAttention(MultiHeadAttention):
    """Masked self-attention, as in a decoder: ``forward(x)`` is
    ``MultiHeadAttention(x, x, x)`` with the look-ahead mask, so position ``i`` sees ``j ≤ i``.
    ``strict=True`` also hides the token itself (``j < i``; position 0 then sees nothing and
    gets a zero attention output). An extra ``mask`` (e.g. padding) is combined with ``&``.

    ``x``: ``(batch, seq, d_model)`` → ``(output (batch, seq, d_model),
    weights (batch, num_heads, seq, seq))``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        strict: bool = False,
    ) -> None:
        super().__init__(d_model, num_heads, dropout, bias)
        self.strict = strict

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor("x", x, ndim=3, dims="(batch, seq, d_model)")
        causal = causal_mask(x.shape[1], device=x.device)
        if self.strict:
            causal = causal.tril(diagonal=-1)
        return super().forward(x, x, x, causal if mask is None else causal & mask)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", strict=True" if self.strict else "")
