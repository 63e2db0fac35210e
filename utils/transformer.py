"""The Transformer of "Attention Is All You Need" (Vaswani et al., 2017), in one readable file.

Built from the pieces of chapters 03-04 (:class:`utils.attention.MultiHeadAttention`,
:class:`utils.positional.SinusoidalPositionalEncoding`) plus the two parts chapter 05 adds:

* :class:`FeedForward`: "two linear transformations with a ReLU activation in between",
  applied to every position separately, ``FFN(x) = max(0, x W_1 + b_1) W_2 + b_2``;
* residual connections and layer normalisation around every sub-layer. ``norm_first=False``
  is the paper's **post-LN**, ``LayerNorm(x + Sublayer(x))``; ``norm_first=True`` is the
  **pre-LN** most models use today, ``x + Sublayer(LayerNorm(x))`` (with one more LayerNorm at
  the end of each stack).

:class:`EncoderLayer` and :class:`DecoderLayer` equal ``torch.nn.TransformerEncoderLayer`` and
``TransformerDecoderLayer`` (``batch_first=True``, ReLU) when their weights are copied with
``from_torch``. :class:`Encoder`, :class:`Decoder` and :class:`Transformer` stack them, with
embeddings scaled by √d_model and sinusoidal positions (:class:`TokenEmbedding`) and an output
projection to the vocabulary (``Transformer.lm_head``).

Masks follow chapter 04: boolean, ``True`` where attention is **allowed**, broadcastable to
``(batch, seq_q, seq_k)``. (PyTorch's ``*_key_padding_mask`` arguments mean the opposite.)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .attention import MultiHeadAttention, causal_mask, padding_mask
from .positional import SinusoidalPositionalEncoding
from .validation import (
    check_choice,
    check_ids,
    check_non_negative_int,
    check_number,
    check_positive_int,
    check_type,
)

# --------------------------------------------------------------------------- the sub-layers
#: The activations a feed-forward network can use: the paper's ReLU, BERT's and GPT's GELU
#: (``"gelu"`` is the exact ``x·Φ(x)``, ``"gelu_tanh"`` the tanh approximation GPT-2 used).
ACTIVATIONS = {
    "relu": torch.relu,
    "gelu": nn.functional.gelu,
    "gelu_tanh": lambda x: nn.functional.gelu(x, approximate="tanh"),
}


class FeedForward(nn.Module):
    """Position-wise feed-forward network: ``linear2(dropout(act(linear1(x))))``.

    ``x``: ``(..., d_model)`` → ``(..., d_model)``; the hidden layer has ``d_ff`` units (the
    paper: 2048 for ``d_model`` = 512, four times wider). Every position goes through the same
    two layers on its own: this is where the model computes on what attention gathered.
    ``activation`` is ``"relu"`` (the paper), ``"gelu"`` (BERT) or ``"gelu_tanh"``.
    """

    def __init__(
        self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu"
    ) -> None:
        super().__init__()
        check_positive_int("d_model", d_model)
        check_positive_int("d_ff", d_ff)
        check_choice("activation", activation, ACTIVATIONS)
        self.activation = activation
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(ACTIVATIONS[self.activation](self.linear1(x))))

    def extra_repr(self) -> str:
        return f"activation={self.activation}"


class EncoderLayer(nn.Module):
    """Self-attention, then feed-forward, each wrapped in a residual connection and LayerNorm.

    ``forward(x (batch, seq, d_model), mask=None)`` → ``(batch, seq, d_model)``; ``mask`` (e.g.
    :func:`utils.attention.padding_mask`) says which keys each position may attend to. The
    attention weights of the last call are kept in ``self_weights`` ``(batch, heads, seq, seq)``.

    ``activation`` (``"relu"``, ``"gelu"``, ``"gelu_tanh"``) and ``layer_norm_eps`` (PyTorch's
    default 1e-5; BERT uses 1e-12) are what BERT's layer changes (chapter 06).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.1,
        norm_first: bool = False,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        check_number("layer_norm_eps", layer_norm_eps, low=0, high=1, low_open=True, high_open=True)
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.self_weights: torch.Tensor | None = None

    def _self_attention(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        out, self.self_weights = self.self_attn(x, x, x, mask)
        return self.dropout1(out)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.norm_first:  # pre-LN: x + Sublayer(LayerNorm(x))
            x = x + self._self_attention(self.norm1(x), mask)
            return x + self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(x + self._self_attention(x, mask))  # post-LN: LayerNorm(x + Sublayer(x))
        return self.norm2(x + self.dropout2(self.ff(x)))

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> EncoderLayer:
        """A copy of ``torch.nn.TransformerEncoderLayer`` (``batch_first=True``, ReLU)."""
        check_type("layer", layer, nn.TransformerEncoderLayer, "a nn.TransformerEncoderLayer")
        _check_torch_layer(layer)
        d_model, d_ff = layer.linear1.in_features, layer.linear1.out_features
        ours = cls(d_model, layer.self_attn.num_heads, d_ff, layer.dropout.p, layer.norm_first)
        ours.self_attn = MultiHeadAttention.from_torch(layer.self_attn)
        _copy_common(ours, layer)
        return ours


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention over the encoder's output, then feed-forward;
    each wrapped in a residual connection and LayerNorm.

    ``forward(y (batch, seq_t, d_model), memory (batch, seq_s, d_model), tgt_mask=None,
    memory_mask=None)`` → ``(batch, seq_t, d_model)``. ``tgt_mask`` is the look-ahead mask
    (:func:`utils.attention.causal_mask`, possibly ``&`` a padding mask); ``memory_mask`` hides
    padding in the source. The last call's weights are kept in ``self_weights``
    ``(batch, heads, seq_t, seq_t)`` and ``cross_weights`` ``(batch, heads, seq_t, seq_s)``:
    where each target position looked in the source.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.1,
        norm_first: bool = False,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(3))
        self.self_weights: torch.Tensor | None = None
        self.cross_weights: torch.Tensor | None = None

    def _self_attention(self, y: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        out, self.self_weights = self.self_attn(y, y, y, mask)
        return self.dropout1(out)

    def _cross_attention(
        self, y: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        out, self.cross_weights = self.cross_attn(y, memory, memory, mask)  # queries from y
        return self.dropout2(out)

    def forward(
        self,
        y: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.norm_first:
            y = y + self._self_attention(self.norm1(y), tgt_mask)
            y = y + self._cross_attention(self.norm2(y), memory, memory_mask)
            return y + self.dropout3(self.ff(self.norm3(y)))
        y = self.norm1(y + self._self_attention(y, tgt_mask))
        y = self.norm2(y + self._cross_attention(y, memory, memory_mask))
        return self.norm3(y + self.dropout3(self.ff(y)))

    @classmethod
    def from_torch(cls, layer: nn.TransformerDecoderLayer) -> DecoderLayer:
        """A copy of ``torch.nn.TransformerDecoderLayer`` (``batch_first=True``, ReLU)."""
        check_type("layer", layer, nn.TransformerDecoderLayer, "a nn.TransformerDecoderLayer")
        _check_torch_layer(layer)
        d_model, d_ff = layer.linear1.in_features, layer.linear1.out_features
        ours = cls(d_model, layer.self_attn.num_heads, d_ff, layer.dropout.p, layer.norm_first)
        ours.self_attn = MultiHeadAttention.from_torch(layer.self_attn)
        ours.cross_attn = MultiHeadAttention.from_torch(layer.multihead_attn)
        _copy_common(ours, layer)
        with torch.no_grad():
            ours.norm3.load_state_dict(layer.norm3.state_dict())
        return ours


def _check_torch_layer(layer: nn.Module) -> None:
    if not layer.self_attn.batch_first:
        raise ValueError("only batch_first=True layers are supported")
    if layer.activation is not torch.nn.functional.relu:
        raise ValueError(f"only the ReLU activation is supported, got {layer.activation}")
    if layer.norm1.bias is None or layer.linear1.bias is None:
        raise ValueError("only layers with biases (bias=True) are supported")


def _copy_common(ours: nn.Module, layer: nn.Module) -> None:
    # First the dtype and device, then the weights: loading float64 weights into a float32
    # module would round them.
    ours.to(device=layer.linear1.weight.device, dtype=layer.linear1.weight.dtype)
    with torch.no_grad():
        ours.ff.linear1.load_state_dict(layer.linear1.state_dict())
        ours.ff.linear2.load_state_dict(layer.linear2.state_dict())
        ours.norm1.load_state_dict(layer.norm1.state_dict())
        ours.norm2.load_state_dict(layer.norm2.state_dict())
    for norm in (ours.norm1, ours.norm2, getattr(ours, "norm3", None)):
        if norm is not None:
            norm.eps = layer.norm1.eps


# ------------------------------------------------------------------------------- the stacks
class TokenEmbedding(nn.Module):
    """Token embedding times √d_model ("we multiply those weights by √d_model"), plus
    sinusoidal positions, then dropout: ids ``(batch, seq)`` → ``(batch, seq, d_model)``.

    The lookup table itself is ``self.tokens``, a ``torch.nn.Embedding``."""

    def __init__(self, vocab_size: int, d_model: int, max_len: int, dropout: float) -> None:
        super().__init__()
        check_positive_int("vocab_size", vocab_size)
        self.tokens = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.tokens.weight, std=d_model**-0.5)  # × √d_model gives unit scale
        self.positions = SinusoidalPositionalEncoding(d_model, max_len, dropout)
        self.scale = math.sqrt(d_model)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_ids("ids", ids, self.tokens.num_embeddings)
        return self.positions(self.tokens(ids) * self.scale)


class Encoder(nn.Module):
    """``num_layers`` encoder layers (plus a final LayerNorm when pre-LN).
    ``forward(x (batch, seq_s, d_model), mask=None)`` → memory ``(batch, seq_s, d_model)``."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.1,
        norm_first: bool = False,
    ) -> None:
        super().__init__()
        check_positive_int("num_layers", num_layers)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, num_heads, d_ff, dropout, norm_first) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class Decoder(nn.Module):
    """``num_layers`` decoder layers (plus a final LayerNorm when pre-LN).
    ``forward(y (batch, seq_t, d_model), memory, tgt_mask=None, memory_mask=None)`` →
    ``(batch, seq_t, d_model)``."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.1,
        norm_first: bool = False,
    ) -> None:
        super().__init__()
        check_positive_int("num_layers", num_layers)
        self.layers = nn.ModuleList(
            DecoderLayer(d_model, num_heads, d_ff, dropout, norm_first) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(
        self,
        y: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        for layer in self.layers:
            y = layer(y, memory, tgt_mask, memory_mask)
        return self.norm(y)


class Transformer(nn.Module):
    """The encoder-decoder model: source ids → encoder → memory → decoder → next-token logits.

    ``forward(src (batch, seq_s), tgt (batch, seq_t))`` → logits ``(batch, seq_t, tgt_vocab)``,
    where ``tgt`` is the target shifted right (it starts with the begin-of-sequence id) and the
    logits at position ``t`` predict target token ``t + 1``. Padding (``pad_id``) is masked in
    both inputs, and the decoder is causal: position ``t`` sees target positions ``≤ t`` only.

    The output projection ``d_model → tgt_vocab`` is ``lm_head`` (called ``generator`` before;
    checkpoints saved with that name still load). ``tie_output=True`` uses the target embedding
    matrix as the output projection (the paper shares it); ``share_embeddings=True`` also gives
    the source the same table (for a joint vocabulary, ``src_vocab == tgt_vocab``).
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        d_ff: int = 512,
        dropout: float = 0.1,
        max_len: int = 256,
        pad_id: int = 0,
        norm_first: bool = False,
        tie_output: bool = False,
        share_embeddings: bool = False,
    ) -> None:
        super().__init__()
        if share_embeddings and src_vocab != tgt_vocab:
            raise ValueError(
                f"share_embeddings needs one vocabulary, got src_vocab={src_vocab}, "
                f"tgt_vocab={tgt_vocab}"
            )
        self.pad_id = check_non_negative_int("pad_id", pad_id)
        self.src_embed = TokenEmbedding(src_vocab, d_model, max_len, dropout)
        self.tgt_embed = TokenEmbedding(tgt_vocab, d_model, max_len, dropout)
        if share_embeddings:
            self.src_embed.tokens = self.tgt_embed.tokens
        self.encoder = Encoder(num_layers, d_model, num_heads, d_ff, dropout, norm_first)
        self.decoder = Decoder(num_layers, d_model, num_heads, d_ff, dropout, norm_first)
        self.lm_head = nn.Linear(d_model, tgt_vocab)
        if tie_output:
            self.lm_head.weight = self.tgt_embed.tokens.weight
        self.register_load_state_dict_pre_hook(_rename_generator_keys)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``src`` ``(batch, seq_s)`` → ``(memory (batch, seq_s, d_model), src_mask
        (batch, 1, seq_s))``."""
        src_mask = padding_mask(src, self.pad_id)
        return self.encoder(self.src_embed(src), src_mask), src_mask

    def decode(
        self, tgt: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor
    ) -> torch.Tensor:
        """Target prefix ``(batch, seq_t)``, the encoder's output ``memory`` ``(batch, seq_s,
        d_model)`` and ``src_mask`` ``(batch, 1, seq_s)`` from :meth:`encode` → logits
        ``(batch, seq_t, tgt_vocab)``."""
        check_ids("tgt", tgt, self.tgt_embed.tokens.num_embeddings)
        if tgt.shape[0] != memory.shape[0]:
            raise ValueError(f"tgt has batch size {tgt.shape[0]} but memory has {memory.shape[0]}")
        tgt_mask = causal_mask(tgt.shape[1], device=tgt.device) & padding_mask(tgt, self.pad_id)
        return self.lm_head(self.decoder(self.tgt_embed(tgt), memory, tgt_mask, src_mask))

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Source ids ``(batch, seq_s)`` and target prefix ``(batch, seq_t)`` → logits
        ``(batch, seq_t, tgt_vocab)`` (teacher forcing: every position at once)."""
        memory, src_mask = self.encode(src)
        return self.decode(tgt, memory, src_mask)


def _rename_generator_keys(module, state_dict, prefix, *args) -> None:
    """Load a state dict saved when ``Transformer.lm_head`` was called ``generator``."""
    for key in [k for k in state_dict if k.startswith(prefix + "generator.")]:
        new_key = prefix + "lm_head." + key[len(prefix + "generator.") :]
        state_dict.setdefault(new_key, state_dict.pop(key))


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable parameters by top-level component (shared tensors counted once, where they
    first appear), plus ``"total"``."""
    seen: set[int] = set()
    counts: dict[str, int] = {}
    for name, child in model.named_children():
        n = 0
        for p in child.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        counts[name] = n
    counts["total"] = sum(counts.values())
    return counts
