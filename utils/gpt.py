"""GPT (Radford et al., 2018, 2019): a decoder-only transformer that predicts the next token.

"We use a Transformer decoder ... [it] applies a multi-headed self-attention operation over the
input context tokens followed by position-wise feedforward layers to produce an output
distribution over target tokens." (Radford et al., 2018.) GPT-2 moved LayerNorm to the input of
each sub-block (pre-LN) and added one after the last block. Chapter 07 builds it; this file is the
whole model, in the spirit of nanoGPT's ``model.py``.

* :class:`GPTConfig`: the sizes.
* :class:`KVCache`: the keys and values of the tokens seen so far, one pair per layer, so that
  generating a token costs one position instead of the whole sequence (shared with
  :mod:`utils.llama`).
* :class:`CausalSelfAttention`, :class:`MLP`, :class:`Block`, :class:`GPT`.
  ``model(idx)`` gives logits ``(batch, seq, vocab_size)``; ``model(idx, cache)`` reads and
  extends a :class:`KVCache`.
* :meth:`GPT.from_huggingface` copies any ``transformers`` ``GPT2LMHeadModel`` (its ``Conv1D``
  layers store weights transposed) and :func:`weight_names` is the map between the two.

The attention computes ``softmax(QKᵀ/√d_k + mask) V`` with PyTorch's fused
``F.scaled_dot_product_attention`` (chapter 04 checked it equals ours), so training runs as fast
as a plain PyTorch GPT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .positional import _check_positive_int


@dataclass
class GPTConfig:
    """The sizes of a GPT. GPT-2 small is ``GPTConfig(50257, 1024, 12, 12, 768)``."""

    vocab_size: int
    block_size: int  # the context length: the most positions the model has embeddings for
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    bias: bool = True  # biases in the linear layers and LayerNorms, as in GPT-2

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            _check_positive_int(name, getattr(self, name))
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class KVCache:
    """The keys and values every layer has computed so far.

    ``keys[i]`` and ``values[i]`` are ``(batch, n_kv_heads, seq_so_far, head_dim)`` (``None``
    before the first token). :meth:`update` appends a layer's new keys and values and returns
    all of them; ``len(cache)`` is the number of positions cached, which is also the position
    of the next token.
    """

    def __init__(self, n_layer: int) -> None:
        _check_positive_int("n_layer", n_layer)
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer

    def __len__(self) -> int:
        k = self.keys[-1]  # the last layer is updated last, so this counts finished positions
        return 0 if k is None else k.shape[2]

    def update(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append ``k, v`` ``(batch, heads, new, head_dim)`` to layer ``layer``; return all."""
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], dim=2)
            v = torch.cat([self.values[layer], v], dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v

    def nbytes(self) -> int:
        """Memory the cache holds, in bytes."""
        return sum(t.numel() * t.element_size() for t in self.keys + self.values if t is not None)

    def __repr__(self) -> str:
        return f"KVCache(layers={len(self.keys)}, positions={len(self)})"


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal attention of ``q`` ``(b, h, T, d)`` over ``k, v`` ``(b, h, P + T, d)``.

    The ``T`` queries are the last ``T`` positions: query ``t`` may see keys ``0 .. P + t``.
    With no cache (``P = 0``) that is the usual causal mask; for one new token (``T = 1``) it
    sees everything, so no mask is needed.
    """
    T, S = q.shape[2], k.shape[2]
    if T == 1:
        return F.scaled_dot_product_attention(q, k, v)
    if T == S:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    allowed = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(diagonal=S - T)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with one fused query/key/value projection.

    ``x``: ``(batch, seq, n_embd)`` → ``(batch, seq, n_embd)``.
    """

    def __init__(self, config: GPTConfig, layer: int = 0) -> None:
        super().__init__()
        self.n_head, self.n_embd, self.layer = config.n_head, config.n_embd, layer
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # each (B, T, C)
        # (B, T, C) -> (B, n_head, T, head_dim)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.update(self.layer, k, v)  # (B, n_head, P + T, head_dim)
        y = attend(q, k, v)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
        return self.dropout(self.c_proj(y))


class MLP(nn.Module):
    """The position-wise feed-forward network: ``n_embd → 4·n_embd → GELU → n_embd``.

    GPT-2 uses the tanh approximation of GELU, so we do too (needed to match its logits).
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """A pre-LN decoder block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, config: GPTConfig, layer: int = 0) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache)
        x = x + self.mlp(self.ln_2(x))
        return x


def init_weights(module: nn.Module) -> None:
    """GPT-2's (and Llama's) initialisation: N(0, 0.02) for every matrix, zero biases (use with
    ``model.apply``; LayerNorm and RMSNorm keep their gains of 1)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


class GPT(nn.Module):
    """Token and position embeddings, ``n_layer`` blocks, a final LayerNorm, and a linear layer
    to the vocabulary whose weight is the token embedding's (tied, as in GPT-2).

    ``idx``: int64 ``(batch, seq)`` → logits ``(batch, seq, vocab_size)``. With a
    :class:`KVCache`, ``idx`` holds only the new tokens; their positions continue from
    ``len(cache)``.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(Block(config, i) for i in range(config.n_layer)),
                ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying
        self.apply(init_weights)
        # GPT-2: scale the projections into the residual stream by 1/√(2·n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @property
    def context_length(self) -> int:
        """The most positions the model can see (``block_size``)."""
        return self.config.block_size

    def new_cache(self) -> KVCache:
        """An empty :class:`KVCache` for this model."""
        return KVCache(self.config.n_layer)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        _check_idx(idx, self.config.vocab_size)
        start = 0 if cache is None else len(cache)
        T = idx.shape[1]
        if start + T > self.config.block_size:
            raise ValueError(
                f"{start + T} positions do not fit in the context of {self.config.block_size} "
                f"(block_size): {start} cached + {T} new"
            )
        pos = torch.arange(start, start + T, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x, cache)
        x = self.transformer.ln_f(x)
        return self.lm_head(x)  # (B, T, vocab_size)

    @classmethod
    def from_huggingface(cls, hf_model: nn.Module) -> GPT:
        """A :class:`GPT` with the weights of a ``transformers`` ``GPT2LMHeadModel``.

        GPT-2's ``Conv1D`` layers compute ``x @ W + b`` with ``W`` of shape ``(in, out)``, the
        transpose of ``nn.Linear``'s ``(out, in)``: those weights are transposed on the way in.
        """
        hf_config = getattr(hf_model, "config", None)
        if getattr(hf_config, "model_type", None) != "gpt2" or not hasattr(hf_model, "lm_head"):
            raise TypeError(
                "from_huggingface expects a transformers GPT2LMHeadModel, got "
                f"{type(hf_model).__name__}"
            )
        act = hf_config.activation_function
        if act not in ("gelu_new", "gelu_pytorch_tanh"):
            raise ValueError(f"our MLP uses GELU's tanh form; this model uses {act!r}")
        if abs(hf_config.layer_norm_epsilon - 1e-5) > 1e-12:
            raise ValueError(f"our LayerNorms use eps 1e-5, not {hf_config.layer_norm_epsilon}")
        if getattr(hf_config, "scale_attn_by_inverse_layer_idx", False) or not getattr(
            hf_config, "scale_attn_weights", True
        ):
            raise ValueError("only GPT-2's standard 1/√d_k attention scaling is supported")
        config = GPTConfig(
            vocab_size=hf_config.vocab_size,
            block_size=hf_config.n_positions,
            n_layer=hf_config.n_layer,
            n_head=hf_config.n_head,
            n_embd=hf_config.n_embd,
        )
        model = cls(config)
        theirs = hf_model.state_dict()
        with torch.no_grad():
            for ours, hf_name in weight_names(config.n_layer).items():
                w = theirs[hf_name]
                if ours.endswith(_CONV1D):
                    w = w.t()  # Conv1D (in, out) -> nn.Linear (out, in)
                model.get_parameter(ours).copy_(w)
        if not torch.equal(theirs["lm_head.weight"], theirs["transformer.wte.weight"]):
            raise ValueError("this GPT2LMHeadModel's lm_head is not tied to wte; ours always is")
        return model.eval()


#: The weights that GPT-2 stores in ``Conv1D`` layers, transposed with respect to ``nn.Linear``.
_CONV1D = ("c_attn.weight", "c_proj.weight", "c_fc.weight")


def weight_names(n_layer: int) -> dict[str, str]:
    """Our parameter names → ``GPT2LMHeadModel``'s. They are the same: nanoGPT (and this file)
    kept GPT-2's names, so the map is the identity, except that ``lm_head`` is tied to ``wte``.
    """
    _check_positive_int("n_layer", n_layer)
    names = ["transformer.wte.weight", "transformer.wpe.weight"]
    for i in range(n_layer):
        p = f"transformer.h.{i}."
        for sub in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"):
            names += [p + sub + ".weight", p + sub + ".bias"]
    names += ["transformer.ln_f.weight", "transformer.ln_f.bias"]
    return {n: n for n in names}


def _check_idx(idx: object, vocab_size: int | None = None) -> None:
    if not isinstance(idx, torch.Tensor) or idx.dtype != torch.int64 or idx.dim() != 2:
        raise ValueError(
            "idx must be an int64 tensor (batch, seq), got "
            f"{getattr(idx, 'dtype', type(idx).__name__)} {tuple(getattr(idx, 'shape', ()))}"
        )
    if idx.shape[1] == 0:
        raise ValueError("idx has no tokens (seq = 0): give at least one, e.g. a BOS token")
    if vocab_size is not None and (idx.min() < 0 or idx.max() >= vocab_size):
        raise ValueError(
            f"token ids must be in [0, {vocab_size}), got min {int(idx.min())}, "
            f"max {int(idx.max())}"
        )
