"""T5 (Raffel et al., 2020): an encoder-decoder transformer that turns every task into text → text.

"A unified framework that converts all text-based language problems into a text-to-text
format": translation, summarisation and classification all read a text and write a text.
Chapter 08 builds T5 from the pieces of the earlier chapters; this file is the whole model and
its pretraining objective.

* :func:`relative_position_bucket`: T5 has no table of absolute positions. Each attention layer
  adds a learned scalar per head to the score of query ``i`` and key ``j``, chosen by the
  bucket of ``j - i``: exact buckets for small distances, logarithmic ones further out.
* :func:`random_spans_noise_mask`, :func:`span_corruption`, :func:`fill_spans` (from
  :mod:`utils.span_corruption`, re-exported here): the pretraining objective. Spans of the input
  are replaced by sentinel tokens and the model writes the missing spans, each after its sentinel.
* :class:`T5Config`, :class:`T5LayerNorm`, :class:`RelativePositionBias`, :class:`T5Attention`,
  :class:`DenseReluDense` / :class:`DenseGatedGeluDense`, the pre-norm residual sub-layers,
  :class:`T5Block`, :class:`T5Stack` and :class:`T5`. ``model(input_ids, decoder_input_ids,
  attention_mask)`` gives logits ``(batch, target_seq, vocab_size)``; :meth:`T5.encode` and
  :meth:`T5.decode` are the two halves, and :func:`greedy_generate` decodes with them.
* :meth:`T5.from_huggingface` copies any ``transformers`` ``T5ForConditionalGeneration`` (the
  original T5 with ReLU and tied embeddings, or T5 v1.1 / Flan-T5 with gated GELU and a separate
  output layer); :meth:`T5.to_huggingface` gives one back (for ``save_pretrained`` and
  ``generate``). The parameters have Hugging Face's names (``encoder.block.0.layer.0.
  SelfAttention.q.weight``, ...), inherited from Mesh TensorFlow's T5 checkpoints, so
  :func:`weight_names` is the identity.

How T5 differs from the Transformer of chapter 05: pre-norm residual blocks with RMSNorm (no mean
subtraction, no bias), no biases anywhere, relative position biases instead of sinusoids, no
``1/√d_k`` in the attention scores, and one embedding matrix shared by the encoder input, the
decoder input and (in the original T5) the output layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .gpt import _check_idx
from .llama import RMSNorm, _check_positive_float
from .positional import _check_positive_int
from .span_corruption import (  # noqa: F401 (re-exported: the pretraining objective)
    fill_spans,
    random_spans_noise_mask,
    span_corruption,
)

FEED_FORWARD_PROJ = ("relu", "gated-gelu")


# ------------------------------------------------------------------------ relative positions
def relative_position_bucket(
    relative_position: torch.Tensor,
    *,
    bidirectional: bool = True,
    num_buckets: int = 32,
    max_distance: int = 128,
) -> torch.Tensor:
    """The bucket of each relative position ``key_position - query_position``.

    ``relative_position``: an integer tensor of any shape → int64 tensor of the same shape, with
    values in ``[0, num_buckets)``. Equal to Hugging Face's
    ``T5Attention._relative_position_bucket`` (itself Mesh TensorFlow's), for any positions.

    T5 learns one scalar per bucket and head, so the buckets decide which distances the model can
    tell apart. They are log-spaced: nearby tokens get a bucket each, far-away ones share.

    * **Bidirectional** (the encoder): half the buckets (``n = num_buckets // 2``) are for keys
      at or before the query (``relative_position ≤ 0``), the other half, numbered from ``n``,
      for keys after it. Within a half the distance is ``|relative_position|``.
    * **Unidirectional** (the decoder's self-attention): the causal mask hides keys after the
      query, so all ``n = num_buckets`` buckets go to the past, with distance
      ``max(-relative_position, 0)`` (a future key falls into bucket 0, with the query itself).

    Within a half of ``n`` buckets, with ``max_exact = n // 2``:

    * distances ``0 .. max_exact - 1`` have exact buckets, one each;
    * larger distances share the other ``n - max_exact`` buckets on a logarithmic scale,
      ``max_exact + ⌊log(d / max_exact) / log(max_distance / max_exact) · (n - max_exact)⌋``,
      so each bucket covers a range of distances about ``(max_distance / max_exact)^(1 /
      (n - max_exact))`` times wider than the one before;
    * every distance from ``max_distance`` on falls into the last bucket, ``n - 1``.

    With T5's defaults (32 buckets, ``max_distance`` 128) an encoder sees distances 0-7 exactly
    on each side, 8-90 in 7 log-spaced buckets per side, and 91 or more in the last bucket (the
    decoder: 0-15 exactly, 16-112 in 15 buckets, 113 or more in the last).
    """
    if not isinstance(relative_position, torch.Tensor):
        raise TypeError(
            f"relative_position must be a tensor, got {type(relative_position).__name__}"
        )
    if (
        relative_position.is_floating_point()
        or relative_position.is_complex()
        or relative_position.dtype == torch.bool
    ):
        raise TypeError(
            f"relative_position must be an integer tensor, got {relative_position.dtype}"
        )
    _check_bucket_sizes(num_buckets, max_distance)
    relative_position = relative_position.to(torch.int64)
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).to(torch.int64) * num_buckets  # keys after the query
        distance = relative_position.abs()
    else:
        distance = (-relative_position).clamp(min=0)  # the future counts as distance 0
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    # The same float32 operations, in the same order, as Mesh TensorFlow and Hugging Face. The
    # clamp only keeps log() away from 0 where the exact buckets are used anyway.
    log_ratio = torch.log(distance.clamp(min=max_exact).float() / max_exact) / math.log(
        max_distance / max_exact
    )
    if_large = max_exact + (log_ratio * (num_buckets - max_exact)).to(torch.int64)
    if_large = if_large.clamp(max=num_buckets - 1)
    return buckets + torch.where(is_small, distance, if_large)


def _check_bucket_sizes(num_buckets: object, max_distance: object) -> None:
    _check_positive_int("num_buckets", num_buckets)
    _check_positive_int("max_distance", max_distance)
    if num_buckets < 4:  # type: ignore[operator]
        raise ValueError(
            f"num_buckets must be at least 4 (2 per direction, half of them exact), "
            f"got {num_buckets}"
        )
    if max_distance <= num_buckets // 2:  # type: ignore[operator]
        raise ValueError(
            f"max_distance must be larger than num_buckets // 2 (the exact buckets), got "
            f"max_distance={max_distance}, num_buckets={num_buckets}"
        )


# ------------------------------------------------------------------------ the model
@dataclass
class T5Config:
    """The sizes of a T5 (Hugging Face's names). ``t5-small`` is ``T5Config(vocab_size=32128)``.

    ``d_kv`` is the size of one attention head; the heads together have ``inner_dim = num_heads
    · d_kv``, which need not equal ``d_model``. ``feed_forward_proj`` is ``"relu"`` (the
    original T5) or ``"gated-gelu"`` (T5 v1.1, Flan-T5). ``tie_word_embeddings=True`` (the
    original T5) makes the output layer the shared embedding matrix and scales the decoder
    output by ``d_model**-0.5`` before it; ``False`` (v1.1) gives a separate output layer and no
    scaling. ``num_decoder_layers=None`` means as many as ``num_layers``.
    """

    vocab_size: int
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: int | None = None
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    feed_forward_proj: str = "relu"
    tie_word_embeddings: bool = True
    layer_norm_epsilon: float = 1e-6
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.num_decoder_layers is None:
            self.num_decoder_layers = self.num_layers
        for name in ("vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_heads"):
            _check_positive_int(name, getattr(self, name))
        _check_positive_int("num_decoder_layers", self.num_decoder_layers)
        _check_bucket_sizes(
            self.relative_attention_num_buckets, self.relative_attention_max_distance
        )
        if self.feed_forward_proj not in FEED_FORWARD_PROJ:
            raise ValueError(
                f"feed_forward_proj must be one of {FEED_FORWARD_PROJ}, "
                f"got {self.feed_forward_proj!r}"
            )
        if not isinstance(self.tie_word_embeddings, bool):
            raise TypeError(f"tie_word_embeddings must be a bool, got {self.tie_word_embeddings!r}")
        _check_positive_float("layer_norm_epsilon", self.layer_norm_epsilon)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def inner_dim(self) -> int:
        """The width of all attention heads together: ``num_heads · d_kv``."""
        return self.num_heads * self.d_kv


class T5LayerNorm(RMSNorm):
    """T5's "layer norm" is RMSNorm (:class:`utils.llama.RMSNorm`): ``x / √(mean(x²) + eps) ·
    weight``, without mean subtraction or bias, the statistic in float32; T5 uses ``eps=1e-6``.

    ``x``: ``(..., d_model)`` → same shape. Hugging Face's ``T5LayerNorm`` does the same
    float32 operations in the same order, so the outputs are identical in float32 and for a
    float16/bfloat16 model; only a half-precision input with a float32 weight would round
    differently (ours rounds to the input's dtype before the gain).
    """

    def __init__(self, d_model: int, eps: float = 1e-6) -> None:
        super().__init__(d_model, eps)


class RelativePositionBias(nn.Embedding):
    """T5's relative position bias: a table of ``num_buckets × num_heads`` learned scalars (an
    ``nn.Embedding``), looked up by :func:`relative_position_bucket`.

    ``table(query_length, key_length)`` → ``(1, num_heads, query_length, key_length)``, added to
    the attention scores. One table serves all the layers of a stack: T5 keeps it in the first
    block's self-attention (hence its Hugging Face name ``block.0.layer.0.SelfAttention.
    relative_attention_bias``) and the other blocks reuse the bias it computes.
    """

    def __init__(
        self, num_buckets: int, num_heads: int, *, max_distance: int, bidirectional: bool
    ) -> None:
        _check_bucket_sizes(num_buckets, max_distance)
        super().__init__(num_buckets, num_heads)
        self.max_distance, self.bidirectional = max_distance, bidirectional

    def forward(self, query_length: int, key_length: int) -> torch.Tensor:  # type: ignore[override]
        query = torch.arange(query_length, device=self.weight.device)[:, None]
        key = torch.arange(key_length, device=self.weight.device)[None, :]
        buckets = relative_position_bucket(
            key - query,  # (query_length, key_length)
            bidirectional=self.bidirectional,
            num_buckets=self.num_embeddings,
            max_distance=self.max_distance,
        )
        values = super().forward(buckets)  # (query_length, key_length, num_heads)
        return values.permute(2, 0, 1).unsqueeze(0)  # (1, num_heads, query_length, key_length)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, max_distance={self.max_distance}, "
            f"bidirectional={self.bidirectional}"
        )


class T5Attention(nn.Module):
    """Multi-head attention, T5's way: ``softmax(QKᵀ + bias) V``, with no ``1/√d_kv``.

    T5 folds that scaling into the initialisation instead: ``q`` starts with standard deviation
    ``(d_model · d_kv)**-0.5`` where the others have ``d_model**-0.5``. ``bias`` is an additive
    float tensor broadcastable to ``(batch, num_heads, query_len, key_len)``: the relative
    position bias and the mask (the most negative float where a key may not be seen) in one.

    ``x``: ``(batch, query_len, d_model)``; ``kv``: ``(batch, key_len, d_model)`` for
    cross-attention or ``None`` for self-attention → ``(batch, query_len, d_model)``. The heads
    together are ``inner_dim = num_heads · d_kv`` wide; no projection has a bias. With
    ``has_relative_attention_bias`` (the first block of a stack) it also owns the
    :class:`RelativePositionBias` table, as ``relative_attention_bias``.
    """

    def __init__(
        self,
        config: T5Config,
        *,
        has_relative_attention_bias: bool = False,
        bidirectional: bool = True,
    ) -> None:
        super().__init__()
        self.num_heads, self.d_kv, self.dropout = config.num_heads, config.d_kv, config.dropout
        self.q = nn.Linear(config.d_model, config.inner_dim, bias=False)
        self.k = nn.Linear(config.d_model, config.inner_dim, bias=False)
        self.v = nn.Linear(config.d_model, config.inner_dim, bias=False)
        self.o = nn.Linear(config.inner_dim, config.d_model, bias=False)
        if has_relative_attention_bias:
            self.relative_attention_bias = RelativePositionBias(
                config.relative_attention_num_buckets,
                config.num_heads,
                max_distance=config.relative_attention_max_distance,
                bidirectional=bidirectional,
            )

    def forward(
        self, x: torch.Tensor, kv: torch.Tensor | None = None, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        kv = x if kv is None else kv
        B, T, S = x.shape[0], x.shape[1], kv.shape[1]
        # (B, len, inner_dim) -> (B, num_heads, len, d_kv)
        q = self.q(x).view(B, T, self.num_heads, self.d_kv).transpose(1, 2)
        k = self.k(kv).view(B, S, self.num_heads, self.d_kv).transpose(1, 2)
        v = self.v(kv).view(B, S, self.num_heads, self.d_kv).transpose(1, 2)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=bias,
            dropout_p=self.dropout if self.training else 0.0,
            scale=1.0,  # no 1/√d_kv: T5 scales q's initialisation instead
        )  # (B, num_heads, T, d_kv)
        y = y.transpose(1, 2).reshape(B, T, self.num_heads * self.d_kv)
        return self.o(y)


def gelu_new(x: torch.Tensor) -> torch.Tensor:
    """GELU's tanh approximation, ``0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))``, written as
    Hugging Face's ``gelu_new`` (what T5 v1.1's ``"gated-gelu"`` uses), so the results are the
    same to the last bit. ``F.gelu(x, approximate="tanh")`` is the same function."""
    return (
        0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    )


class DenseReluDense(nn.Module):
    """The original T5's feed-forward network: ``wo(relu(wi(x)))``, ``d_model → d_ff →
    d_model``, no biases. ``x``: ``(..., d_model)`` → ``(..., d_model)``."""

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.wi = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wo(self.dropout(F.relu(self.wi(x))))


class DenseGatedGeluDense(nn.Module):
    """T5 v1.1's gated-GELU feed-forward network (Shazeer, 2020):
    ``wo(gelu_new(wi_0(x)) * wi_1(x))``, no biases. ``x``: ``(..., d_model)`` → same shape.

    Like Llama's SwiGLU with GELU for SiLU; the names are Hugging Face's."""

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.wi_0 = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wi_1 = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.wo = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wo(self.dropout(gelu_new(self.wi_0(x)) * self.wi_1(x)))


class T5LayerSelfAttention(nn.Module):
    """Pre-norm residual self-attention: ``x + SelfAttention(layer_norm(x), bias=bias)``."""

    def __init__(
        self, config: T5Config, *, has_relative_attention_bias: bool, bidirectional: bool
    ) -> None:
        super().__init__()
        self.SelfAttention = T5Attention(
            config,
            has_relative_attention_bias=has_relative_attention_bias,
            bidirectional=bidirectional,
        )
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return x + self.dropout(self.SelfAttention(self.layer_norm(x), bias=bias))


class T5LayerCrossAttention(nn.Module):
    """Pre-norm residual cross-attention (the decoder reads the encoder):
    ``x + EncDecAttention(layer_norm(x), encoder_output, bias)``. No position bias here."""

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.EncDecAttention = T5Attention(config)
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, encoder_output: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        return x + self.dropout(self.EncDecAttention(self.layer_norm(x), encoder_output, bias))


class T5LayerFF(nn.Module):
    """Pre-norm residual feed-forward: ``x + DenseReluDense(layer_norm(x))`` (Hugging Face
    calls the network ``DenseReluDense`` even when it is the gated-GELU one)."""

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        gated = config.feed_forward_proj == "gated-gelu"
        self.DenseReluDense = DenseGatedGeluDense(config) if gated else DenseReluDense(config)
        self.layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.DenseReluDense(self.layer_norm(x)))


class T5Block(nn.Module):
    """One block: a list of pre-norm residual sub-layers, ``layer``, as in T5's checkpoints.

    Encoder: ``[self-attention, feed-forward]``. Decoder: ``[self-attention, cross-attention,
    feed-forward]``. ``x``: ``(batch, seq, d_model)`` → same shape.
    """

    def __init__(self, config: T5Config, *, is_decoder: bool, has_relative_attention_bias: bool):
        super().__init__()
        self.is_decoder = is_decoder
        layers: list[nn.Module] = [
            T5LayerSelfAttention(
                config,
                has_relative_attention_bias=has_relative_attention_bias,
                bidirectional=not is_decoder,
            )
        ]
        if is_decoder:
            layers.append(T5LayerCrossAttention(config))
        layers.append(T5LayerFF(config))
        self.layer = nn.ModuleList(layers)

    def forward(
        self,
        x: torch.Tensor,
        self_bias: torch.Tensor | None,
        encoder_output: torch.Tensor | None = None,
        cross_bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.layer[0](x, self_bias)
        if self.is_decoder:
            x = self.layer[1](x, encoder_output, cross_bias)
        return self.layer[-1](x)


def mask_bias(bias: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """``bias`` where ``allowed`` (bool, broadcastable), the most negative float elsewhere: one
    additive tensor for the attention scores (what Hugging Face passes to SDPA, too)."""
    if allowed is None:
        return bias
    return torch.where(allowed, bias, torch.finfo(bias.dtype).min)


class T5Stack(nn.Module):
    """The encoder or the decoder: ``block``\\ s, then a final :class:`T5LayerNorm`.

    ``x``: the embedded tokens ``(batch, seq, d_model)`` → ``(batch, seq, d_model)``.

    * Encoder: bidirectional relative position bias; ``attention_mask`` ``(batch, seq)`` (1 = a
      real token, 0 = padding) hides the padding keys.
    * Decoder: causal (unidirectional) position bias and the causal mask in self-attention;
      cross-attention over ``encoder_output`` ``(batch, src_seq, d_model)``, hiding the padding
      given by ``encoder_attention_mask`` ``(batch, src_seq)``, with no position bias.

    The position bias is computed once, by the table in the first block, and added in every
    block.
    """

    def __init__(self, config: T5Config, *, is_decoder: bool) -> None:
        super().__init__()
        self.is_decoder = is_decoder
        n = config.num_decoder_layers if is_decoder else config.num_layers
        self.block = nn.ModuleList(
            T5Block(config, is_decoder=is_decoder, has_relative_attention_bias=(i == 0))
            for i in range(n)
        )
        self.final_layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_output: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        T = x.shape[1]
        table = self.block[0].layer[0].SelfAttention.relative_attention_bias
        position_bias = table(T, T).to(x.dtype)  # (1, num_heads, T, T), shared by all blocks
        if self.is_decoder:
            allowed = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()  # causal
        else:
            allowed = _key_mask(attention_mask)  # (B, 1, 1, T) or None
        self_bias = mask_bias(position_bias, allowed)
        cross_bias = None
        if self.is_decoder and encoder_attention_mask is not None:
            zero = torch.zeros((), dtype=x.dtype, device=x.device)
            cross_bias = mask_bias(zero, _key_mask(encoder_attention_mask))  # (B, 1, 1, S)
        x = self.dropout(x)
        for block in self.block:
            x = block(x, self_bias, encoder_output, cross_bias)
        return self.dropout(self.final_layer_norm(x))


def _key_mask(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """``(batch, seq)`` with 1 for real tokens → bool ``(batch, 1, 1, seq)``: which keys each
    query of each head may see."""
    if attention_mask is None:
        return None
    return attention_mask.bool()[:, None, None, :]


class T5(nn.Module):
    """T5: a shared token embedding, an encoder :class:`T5Stack`, a decoder :class:`T5Stack` and
    an output layer ``lm_head`` to the vocabulary.

    ``forward(input_ids, decoder_input_ids, attention_mask=None)``: int64 ``(batch, src_seq)``
    and ``(batch, tgt_seq)``, and the source's mask (1 = token, 0 = padding) → logits
    ``(batch, tgt_seq, vocab_size)``. The decoder input starts with the decoder start token
    (T5 uses the padding id, 0) and is the target shifted right by one (teacher forcing). There
    are no absolute positions, so the inputs may be padded on either side.

    With ``tie_word_embeddings`` (the original T5) ``lm_head.weight`` *is* ``shared.weight`` and
    the decoder output is scaled by ``d_model**-0.5`` before it; without (T5 v1.1) it is a matrix
    of its own and nothing is scaled.
    """

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        if not isinstance(config, T5Config):
            raise TypeError(f"config must be a utils.t5.T5Config, got {type(config).__name__}")
        self.config = config
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, is_decoder=False)
        self.decoder = T5Stack(config, is_decoder=True)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        init_weights(self)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.shared.weight

    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The encoder's output, ``(batch, src_seq, d_model)``, for int64 ``input_ids``
        ``(batch, src_seq)`` and their ``attention_mask`` (1 = token, 0 = padding, or ``None``).
        """
        _check_idx(input_ids, self.config.vocab_size)
        _check_mask(attention_mask, input_ids.shape)
        return self.encoder(self.shared(input_ids), attention_mask)

    def decode(
        self,
        decoder_input_ids: torch.Tensor,
        encoder_output: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``(batch, tgt_seq, vocab_size)`` for int64 ``decoder_input_ids``
        ``(batch, tgt_seq)``, given ``encoder_output`` ``(batch, src_seq, d_model)`` from
        :meth:`encode` and the source's ``attention_mask`` ``(batch, src_seq)``."""
        _check_idx(decoder_input_ids, self.config.vocab_size)
        B = decoder_input_ids.shape[0]
        if (
            not isinstance(encoder_output, torch.Tensor)
            or encoder_output.dim() != 3
            or encoder_output.shape[0] != B
            or encoder_output.shape[2] != self.config.d_model
        ):
            raise ValueError(
                f"encoder_output must be (batch={B}, src_seq, d_model={self.config.d_model}) "
                f"(from encode), got {tuple(getattr(encoder_output, 'shape', ()))}"
            )
        _check_mask(attention_mask, encoder_output.shape[:2])
        h = self.decoder(
            self.shared(decoder_input_ids),
            encoder_output=encoder_output,
            encoder_attention_mask=attention_mask,
        )  # (B, tgt_seq, d_model)
        if self.config.tie_word_embeddings:
            h = h * self.config.d_model**-0.5  # the original T5's rescaling before a tied output
        return self.lm_head(h)

    def forward(
        self,
        input_ids: torch.Tensor,
        decoder_input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.decode(
            decoder_input_ids, self.encode(input_ids, attention_mask), attention_mask
        )

    # -- Hugging Face
    @classmethod
    def from_huggingface(cls, hf_model: Any) -> T5:
        """A float32 :class:`T5`, in eval mode, with the weights of a ``transformers``
        ``T5ForConditionalGeneration`` (``feed_forward_proj`` ``"relu"`` or ``"gated-gelu"``,
        tied or untied output layer, any sizes).

        In ``transformers`` 5.x, ``T5Config`` always sets ``tie_word_embeddings=True`` and keeps
        the user's setting as ``scale_decoder_outputs``; a model loaded from a v1.1 checkpoint
        has an ``lm_head`` of its own. So: a model that scales its decoder output becomes a tied
        T5 (and its ``lm_head`` must equal ``shared``), one that does not becomes an untied T5
        with a copy of its ``lm_head``. Raises ``TypeError`` for another kind of model and
        ``ValueError`` for a T5 variant this file does not implement.
        """
        from transformers import T5ForConditionalGeneration

        if not isinstance(hf_model, T5ForConditionalGeneration):
            raise TypeError(
                "from_huggingface expects a transformers T5ForConditionalGeneration, got "
                f"{type(hf_model).__name__}"
            )
        config = _config_from_huggingface(hf_model.config)
        theirs = hf_model.state_dict()
        shared = theirs["shared.weight"]
        for stack in ("encoder", "decoder"):
            name = f"{stack}.embed_tokens.weight"
            if name in theirs and not torch.equal(theirs[name], shared):
                raise ValueError(f"{name} differs from shared.weight; ours uses one embedding")
        if config.tie_word_embeddings and not torch.equal(theirs["lm_head.weight"], shared):
            raise ValueError(
                "this model scales its decoder output (tied T5) but its lm_head differs from "
                "shared; our tied T5 has one matrix for both"
            )
        model = cls(config)
        with torch.no_grad():
            for ours, hf_name in weight_names(config).items():
                model.get_parameter(ours).copy_(theirs[hf_name])
        return model.float().eval()

    def huggingface_config(self, **extra: Any) -> Any:
        """The ``transformers.T5Config`` of this model's sizes, with T5's special tokens
        (padding 0, end of sequence 1, decoder start 0); ``extra`` is passed on."""
        from transformers import T5Config as HFT5Config

        c = self.config
        kwargs = dict(
            vocab_size=c.vocab_size,
            d_model=c.d_model,
            d_kv=c.d_kv,
            d_ff=c.d_ff,
            num_layers=c.num_layers,
            num_decoder_layers=c.num_decoder_layers,
            num_heads=c.num_heads,
            relative_attention_num_buckets=c.relative_attention_num_buckets,
            relative_attention_max_distance=c.relative_attention_max_distance,
            feed_forward_proj=c.feed_forward_proj,
            tie_word_embeddings=c.tie_word_embeddings,
            layer_norm_epsilon=c.layer_norm_epsilon,
            dropout_rate=c.dropout,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
            architectures=["T5ForConditionalGeneration"],
        )
        return HFT5Config(**(kwargs | extra))

    def to_huggingface(self, **config_extra: Any) -> Any:
        """A ``transformers`` ``T5ForConditionalGeneration`` with these weights, in eval mode
        (float32), ready for ``generate`` and ``save_pretrained``."""
        from transformers import T5ForConditionalGeneration

        hf_model = T5ForConditionalGeneration(self.huggingface_config(**config_extra))
        with torch.no_grad():
            if not self.config.tie_word_embeddings:
                # transformers 5.x builds every T5 with lm_head tied to shared: give it its own
                hf_model.lm_head.weight = nn.Parameter(torch.empty_like(hf_model.lm_head.weight))
            for ours, hf_name in weight_names(self.config).items():
                hf_model.get_parameter(hf_name).copy_(self.get_parameter(ours))
        return hf_model.eval()


def init_weights(model: T5) -> None:
    """T5's initialisation (Mesh TensorFlow's, as in Hugging Face's ``_init_weights``): normal
    with standard deviation ``1`` for the embeddings (and an untied ``lm_head``),
    ``(d_model·d_kv)**-0.5`` for ``q`` (the attention's missing ``1/√d_kv``),
    ``d_model**-0.5`` for ``k``, ``v``, ``wi`` and the position bias, ``inner_dim**-0.5`` for
    ``o``, ``d_ff**-0.5`` for ``wo``; layer norms at 1."""
    c = model.config
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, RelativePositionBias):
                m.weight.normal_(0.0, c.d_model**-0.5)
            elif isinstance(m, T5Attention):
                m.q.weight.normal_(0.0, (c.d_model * c.d_kv) ** -0.5)
                m.k.weight.normal_(0.0, c.d_model**-0.5)
                m.v.weight.normal_(0.0, c.d_model**-0.5)
                m.o.weight.normal_(0.0, c.inner_dim**-0.5)
            elif isinstance(m, DenseReluDense):
                m.wi.weight.normal_(0.0, c.d_model**-0.5)
                m.wo.weight.normal_(0.0, c.d_ff**-0.5)
            elif isinstance(m, DenseGatedGeluDense):
                m.wi_0.weight.normal_(0.0, c.d_model**-0.5)
                m.wi_1.weight.normal_(0.0, c.d_model**-0.5)
                m.wo.weight.normal_(0.0, c.d_ff**-0.5)
            elif isinstance(m, T5LayerNorm):
                m.weight.fill_(1.0)
        model.shared.weight.normal_(0.0, 1.0)
        if model.lm_head.weight is not model.shared.weight:
            model.lm_head.weight.normal_(0.0, 1.0)


def _config_from_huggingface(hf_config: Any) -> T5Config:
    """Our :class:`T5Config` for a ``transformers`` ``T5Config``, refusing what we lack."""
    proj = hf_config.feed_forward_proj
    if proj not in FEED_FORWARD_PROJ:
        raise ValueError(
            f"feed_forward_proj {proj!r} is not implemented here; supported: {FEED_FORWARD_PROJ}"
        )
    expected_act = "gelu_new" if proj == "gated-gelu" else "relu"
    if getattr(hf_config, "dense_act_fn", expected_act) != expected_act:
        raise ValueError(
            f"dense_act_fn {hf_config.dense_act_fn!r} does not match {proj!r} ({expected_act})"
        )
    # transformers 5.x: scale_decoder_outputs holds the checkpoint's tie_word_embeddings
    scale = getattr(hf_config, "scale_decoder_outputs", hf_config.tie_word_embeddings)
    return T5Config(
        vocab_size=hf_config.vocab_size,
        d_model=hf_config.d_model,
        d_kv=hf_config.d_kv,
        d_ff=hf_config.d_ff,
        num_layers=hf_config.num_layers,
        num_decoder_layers=hf_config.num_decoder_layers,
        num_heads=hf_config.num_heads,
        relative_attention_num_buckets=hf_config.relative_attention_num_buckets,
        relative_attention_max_distance=hf_config.relative_attention_max_distance,
        feed_forward_proj=proj,
        tie_word_embeddings=bool(scale),
        layer_norm_epsilon=float(hf_config.layer_norm_epsilon),
        dropout=float(hf_config.dropout_rate),
    )


def weight_names(config: T5Config) -> dict[str, str]:
    """Our parameter names → ``T5ForConditionalGeneration``'s. This file uses Hugging Face's
    (that is, the T5 checkpoints') names, so the map is the identity. ``lm_head.weight`` is
    listed only when untied; Hugging Face's ``encoder.embed_tokens`` and
    ``decoder.embed_tokens`` are ``shared`` under other names and are not listed.
    """
    if not isinstance(config, T5Config):
        raise TypeError(f"config must be a utils.t5.T5Config, got {type(config).__name__}")
    gated = config.feed_forward_proj == "gated-gelu"
    ff = ("wi_0", "wi_1", "wo") if gated else ("wi", "wo")
    names = ["shared.weight"]
    for stack, n in (("encoder", config.num_layers), ("decoder", config.num_decoder_layers)):
        for i in range(n):
            p = f"{stack}.block.{i}.layer."
            attention = [f"0.SelfAttention.{w}.weight" for w in "qkvo"]
            if i == 0:
                attention.append("0.SelfAttention.relative_attention_bias.weight")
            attention.append("0.layer_norm.weight")
            if stack == "decoder":
                attention += [f"1.EncDecAttention.{w}.weight" for w in "qkvo"]
                attention.append("1.layer_norm.weight")
            f = 2 if stack == "decoder" else 1
            feed_forward = [f"{f}.DenseReluDense.{w}.weight" for w in ff]
            feed_forward.append(f"{f}.layer_norm.weight")
            names += [p + s for s in attention + feed_forward]
        names.append(f"{stack}.final_layer_norm.weight")
    if not config.tie_word_embeddings:
        names.append("lm_head.weight")
    return {n: n for n in names}


def _check_mask(attention_mask: object, shape: torch.Size) -> None:
    if attention_mask is None:
        return
    if not isinstance(attention_mask, torch.Tensor) or tuple(attention_mask.shape) != tuple(shape):
        raise ValueError(
            f"attention_mask must be a tensor {tuple(shape)} like the source ids, got "
            f"{type(attention_mask).__name__} {tuple(getattr(attention_mask, 'shape', ()))}"
        )
    if attention_mask.is_floating_point() or attention_mask.is_complex():
        raise ValueError(f"attention_mask must hold 0/1 ints or bools, got {attention_mask.dtype}")
    if attention_mask.numel() and not ((attention_mask == 0) | (attention_mask == 1)).all():
        raise ValueError("attention_mask must hold only 0 (padding) and 1 (token)")


# ------------------------------------------------------------------------ greedy decoding
@torch.no_grad()
def greedy_generate(
    model: T5,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    max_new_tokens: int,
    decoder_start_token_id: int = 0,
    eos_token_id: int | None = 1,
    pad_token_id: int = 0,
) -> torch.Tensor:
    """Greedy decoding with a :class:`T5`: encode once, then add the most likely token, one at a
    time, recomputing the decoder over the whole prefix each step (no cache: simple, and fast
    enough for short outputs).

    Returns int64 ``(batch, 1 + n)``: ``decoder_start_token_id`` and then ``n ≤
    max_new_tokens`` tokens. A row that has produced ``eos_token_id`` is finished; it gets
    ``pad_token_id`` from then on, and decoding stops when every row is finished (or after
    ``max_new_tokens``). This is what ``transformers``' ``generate(..., do_sample=False,
    num_beams=1)`` returns for T5. Call ``model.eval()`` first if it has dropout.
    """
    if not isinstance(model, T5):
        raise TypeError(f"model must be a utils.t5.T5, got {type(model).__name__}")
    _check_positive_int("max_new_tokens", max_new_tokens)
    vocab = model.config.vocab_size
    for name, token in (
        ("decoder_start_token_id", decoder_start_token_id),
        ("eos_token_id", eos_token_id),
        ("pad_token_id", pad_token_id),
    ):
        if token is None and name == "eos_token_id":
            continue
        if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token < vocab:
            raise ValueError(f"{name} must be an id in [0, {vocab}), got {token!r}")
    encoder_output = model.encode(input_ids, attention_mask)  # (B, S, d_model)
    B = input_ids.shape[0]
    out = torch.full((B, 1), decoder_start_token_id, dtype=torch.int64, device=input_ids.device)
    finished = torch.zeros(B, dtype=torch.bool, device=input_ids.device)
    for _ in range(max_new_tokens):
        logits = model.decode(out, encoder_output, attention_mask)[:, -1]  # (B, vocab)
        next_token = logits.argmax(dim=-1)
        next_token = torch.where(finished, pad_token_id, next_token)
        out = torch.cat([out, next_token[:, None]], dim=1)
        if eos_token_id is not None:
            finished |= next_token == eos_token_id
            if finished.all():
                break
    return out
