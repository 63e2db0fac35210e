"""Llama (Touvron et al., 2023): the decoder-only transformer behind most open LLMs and SmolLM2.

Llama keeps GPT-2's shape (a stack of pre-norm decoder blocks, then a linear layer to the
vocabulary) and swaps four parts, each a class or function here:

* :class:`RMSNorm` instead of LayerNorm: rescale each vector to unit root-mean-square, then by a
  learned gain; no mean subtraction, no bias.
* Rotary position embeddings (:func:`rope_cos_sin`, :func:`apply_rope`) instead of a table of
  learned positions: queries and keys are rotated by an angle proportional to their position.
* :class:`SwiGLU` instead of the GELU MLP: ``down(silu(gate(x)) * up(x))``.
* Grouped-query attention (:class:`LlamaAttention`, :func:`repeat_kv`): ``n_heads`` query heads
  share ``n_kv_heads`` key/value heads, so the :class:`~utils.gpt.KVCache` is
  ``n_heads / n_kv_heads`` times smaller.

:class:`Llama` follows the same protocol as :class:`utils.gpt.GPT`: ``model(idx)`` gives logits
``(batch, seq, vocab_size)``, ``model(idx, cache)`` reads and extends a
:class:`~utils.gpt.KVCache` from :meth:`Llama.new_cache`, and :attr:`Llama.context_length` is the
longest sequence it accepts. The parameters have Hugging Face's names (``model.embed_tokens``,
``model.layers.0.self_attn.q_proj``, ...), so :meth:`Llama.from_huggingface` copies any
``transformers`` ``LlamaForCausalLM`` by name (:func:`weight_names`). On SmolLM2-135M-Instruct our
logits equal Hugging Face's (a largest difference of 0.0 on the course's CPU setup; the tests
allow 1e-4) and greedy decoding gives the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .gpt import KVCache, _check_idx, attend, init_weights
from .positional import _check_positive_int


@dataclass
class LlamaConfig:
    """The sizes of a Llama (the names of Meta's ``ModelArgs``).

    SmolLM2-135M is ``LlamaConfig(vocab_size=49152, dim=576, n_layers=30, n_heads=9,
    n_kv_heads=3, hidden_dim=1536, rope_theta=100000.0, max_position_embeddings=8192)``.

    ``dim`` is Hugging Face's ``hidden_size``, ``hidden_dim`` its ``intermediate_size`` (the
    width of the SwiGLU), ``n_kv_heads`` its ``num_key_value_heads``.
    """

    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    hidden_dim: int
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    max_position_embeddings: int = 2048
    tie_embeddings: bool = True  # lm_head shares the token embedding's weight
    attention_bias: bool = False  # biases in q_proj, k_proj, v_proj, o_proj

    def __post_init__(self) -> None:
        for name in (
            "vocab_size",
            "dim",
            "n_layers",
            "n_heads",
            "n_kv_heads",
            "hidden_dim",
            "max_position_embeddings",
        ):
            _check_positive_int(name, getattr(self, name))
        if self.dim % self.n_heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by n_heads ({self.n_heads})")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads}): "
                "each key/value head serves the same number of query heads"
            )
        if self.head_dim % 2:
            raise ValueError(
                f"head_dim = dim / n_heads must be even (RoPE rotates pairs), got {self.head_dim}"
            )
        _check_positive_float("rope_theta", self.rope_theta)
        if self.rope_theta <= 1:
            raise ValueError(f"rope_theta must be > 1, got {self.rope_theta}")
        _check_positive_float("norm_eps", self.norm_eps)
        for name in ("tie_embeddings", "attention_bias"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")

    @property
    def head_dim(self) -> int:
        """The size of one attention head: ``dim // n_heads``."""
        return self.dim // self.n_heads


def _check_positive_float(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


# ---------------------------------------------------------------------------- RMSNorm


class RMSNorm(nn.Module):
    """Root-mean-square normalisation (Zhang & Sennrich, 2019): ``x / √(mean(x²) + eps) · weight``.

    ``x``: ``(..., dim)`` → same shape and dtype. Unlike LayerNorm it neither subtracts the mean
    nor adds a bias. As in Hugging Face's ``LlamaRMSNorm``, the statistic is computed in float32
    even for a bfloat16 or float16 input, and the result is cast back before the gain.
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        _check_positive_int("dim", dim)
        _check_positive_float("eps", eps)
        self.dim, self.eps = dim, eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.dim:
            raise ValueError(f"RMSNorm expects (..., dim={self.dim}), got {tuple(x.shape)}")
        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}"


# ---------------------------------------------------------------------------- RoPE


def rope_frequencies(head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """The angular frequency of each rotated pair, float32 ``(head_dim // 2,)``:
    ``ω_i = base**(-2i / head_dim)``, as Hugging Face's ``LlamaRotaryEmbedding`` computes it.

    These are the frequencies of :func:`utils.positional.frequencies` (chapter 03), in float32.
    """
    _check_positive_int("head_dim", head_dim)
    if head_dim % 2:
        raise ValueError(f"head_dim must be even (RoPE rotates pairs), got {head_dim}")
    _check_positive_float("base", base)
    if base <= 1:
        raise ValueError(f"base must be > 1, got {base}")
    return 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))


def rope_cos_sin(
    positions: torch.Tensor, head_dim: int, base: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cosines and sines that rotate the vectors at ``positions``.

    ``positions``: int tensor ``(seq,)``. Returns ``(cos, sin)``, each float32
    ``(seq, head_dim)`` in Hugging Face's layout: the angles ``p·ω_i`` of the ``head_dim / 2``
    pairs, written twice side by side (``cat(angles, angles)``), because :func:`apply_rope` pairs
    dimension ``i`` with ``i + head_dim / 2``.
    """
    if not isinstance(positions, torch.Tensor):
        raise TypeError(f"positions must be a tensor, got {type(positions).__name__}")
    if positions.dim() != 1 or positions.is_floating_point():
        raise ValueError(
            f"positions must be an int tensor (seq,), got {positions.dtype} "
            f"{tuple(positions.shape)}"
        )
    inv_freq = rope_frequencies(head_dim, base).to(positions.device)  # (head_dim/2,)
    angles = positions.float()[:, None] * inv_freq  # (seq, head_dim/2), float32 as in HF
    emb = torch.cat((angles, angles), dim=-1)  # (seq, head_dim)
    return emb.cos(), emb.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``(x1, x2) → (-x2, x1)`` on the two halves of the last dimension of ``x`` ``(..., d)``.

    For each pair ``(x[i], x[i + d/2])`` this is the 90° rotation ``(a, b) → (-b, a)``.
    """
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the query or key vectors ``x`` ``(..., seq, head_dim)`` by their positions' angles:
    ``x·cos + rotate_half(x)·sin``, with ``cos, sin`` ``(seq, head_dim)`` from
    :func:`rope_cos_sin`.

    Each pair ``(a, b) = (x[i], x[i + d/2])`` becomes ``(a cos θ - b sin θ, b cos θ + a sin θ)``:
    a rotation by ``θ = p·ω_i``. This is exactly :func:`utils.positional.apply_rotary` of
    chapter 03, except for which dimensions form a pair: ``(i, i + d/2)`` here (Hugging Face's
    layout), ``(2i, 2i + 1)`` there (the RoFormer paper's and Meta's). With the permutation of
    :func:`interleaved_to_half`, ``apply_rope(interleaved_to_half(x)) ==
    interleaved_to_half(apply_rotary(x))``. That is why Hugging Face's conversion script
    permutes the rows of Meta's ``wq`` and ``wk`` once, so that its checkpoints work with
    ``rotate_half``. Since the dot products of queries and keys do not change when both are
    permuted the same way, the two forms give the same attention.
    """
    if x.dim() < 2 or x.shape[-2:] != cos.shape or cos.shape != sin.shape:
        raise ValueError(
            f"x must be (..., seq, head_dim) and cos, sin (seq, head_dim), got x "
            f"{tuple(x.shape)}, cos {tuple(cos.shape)}, sin {tuple(sin.shape)}"
        )
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return x * cos + rotate_half(x) * sin


def _half_permutation(d: int) -> torch.Tensor:
    if d % 2:
        raise ValueError(f"the last dimension must be even (pairs are rotated), got {d}")
    return torch.cat((torch.arange(0, d, 2), torch.arange(1, d, 2)))  # evens, then odds


def interleaved_to_half(x: torch.Tensor) -> torch.Tensor:
    """Reorder the last dimension of ``x`` ``(..., d)`` from interleaved pairs ``(2i, 2i + 1)``
    to split halves ``(i, i + d/2)``: ``[x0, x2, x4, ..., x1, x3, x5, ...]``.

    See :func:`apply_rope`; :func:`half_to_interleaved` undoes it.
    """
    return x[..., _half_permutation(x.shape[-1]).to(x.device)]


def half_to_interleaved(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`interleaved_to_half`: ``[x0, x_{d/2}, x1, x_{d/2+1}, ...]``."""
    inverse = torch.argsort(_half_permutation(x.shape[-1]))
    return x[..., inverse.to(x.device)]


# ---------------------------------------------------------------------------- SwiGLU


class SwiGLU(nn.Module):
    """The gated feed-forward network of Llama (Shazeer, 2020): ``down(silu(gate(x)) * up(x))``.

    ``x``: ``(..., dim)`` → ``(..., dim)``, through ``hidden_dim`` units. Three weight matrices
    instead of GPT's two, no biases; the names are Hugging Face's ``LlamaMLP``'s.
    """

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        _check_positive_int("dim", dim)
        _check_positive_int("hidden_dim", hidden_dim)
        self.gate_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.up_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


# ---------------------------------------------------------------------------- attention


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Give each query head its key/value head: ``(b, n_kv_heads, s, d)`` →
    ``(b, n_kv_heads * n_rep, s, d)``, each head repeated ``n_rep`` times in a row
    (``torch.repeat_interleave(x, n_rep, dim=1)``), so query heads ``0 .. n_rep - 1`` share
    key/value head 0, and so on.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(
            f"x must be (batch, n_kv_heads, seq, head_dim), got {tuple(getattr(x, 'shape', ()))}"
        )
    _check_positive_int("n_rep", n_rep)
    if n_rep == 1:
        return x
    b, h, s, d = x.shape
    return x[:, :, None].expand(b, h, n_rep, s, d).reshape(b, h * n_rep, s, d)


class LlamaAttention(nn.Module):
    """Causal self-attention with rotary positions and grouped-query attention.

    ``x``: ``(batch, seq, dim)`` → ``(batch, seq, dim)``. ``cos, sin`` ``(seq, head_dim)`` are the
    rotations of the ``seq`` new positions (:func:`rope_cos_sin`). Queries get ``n_heads`` heads,
    keys and values ``n_kv_heads``; the cache stores the keys (already rotated) and values with
    their ``n_kv_heads`` heads, and :func:`repeat_kv` widens them only for the product.
    """

    def __init__(self, config: LlamaConfig, layer: int = 0) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads = config.n_heads, config.n_kv_heads
        self.head_dim, self.layer = config.head_dim, layer
        bias = config.attention_bias
        self.q_proj = nn.Linear(config.dim, config.n_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(config.dim, config.n_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(config.dim, config.n_kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(config.n_heads * self.head_dim, config.dim, bias=bias)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        B, T, _ = x.shape
        # (B, T, heads * head_dim) -> (B, heads, T, head_dim)
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.update(self.layer, k, v)  # (B, n_kv_heads, P + T, head_dim)
        n_rep = self.n_heads // self.n_kv_heads
        y = attend(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep))  # (B, n_heads, T, head_dim)
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)
        return self.o_proj(y)


# ---------------------------------------------------------------------------- the model


class LlamaBlock(nn.Module):
    """A pre-norm decoder block: ``x + self_attn(input_layernorm(x))``, then
    ``x + mlp(post_attention_layernorm(x))``. ``x``: ``(batch, seq, dim)``."""

    def __init__(self, config: LlamaConfig, layer: int = 0) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.dim, config.norm_eps)
        self.self_attn = LlamaAttention(config, layer)
        self.post_attention_layernorm = RMSNorm(config.dim, config.norm_eps)
        self.mlp = SwiGLU(config.dim, config.hidden_dim)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x


class Llama(nn.Module):
    """Token embeddings, ``n_layers`` :class:`LlamaBlock`\\ s, a final :class:`RMSNorm`, and a
    linear layer to the vocabulary (tied to the token embeddings if ``tie_embeddings``).

    ``idx``: int64 ``(batch, seq)`` → logits ``(batch, seq, vocab_size)``. With a
    :class:`~utils.gpt.KVCache`, ``idx`` holds only the new tokens; their positions continue
    from ``len(cache)``. There is no table of positions: RoPE encodes them inside attention.
    """

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        if not isinstance(config, LlamaConfig):
            raise TypeError(f"config must be a LlamaConfig, got {type(config).__name__}")
        self.config = config
        self.model = nn.ModuleDict(
            dict(
                embed_tokens=nn.Embedding(config.vocab_size, config.dim),
                layers=nn.ModuleList(LlamaBlock(config, i) for i in range(config.n_layers)),
                norm=RMSNorm(config.dim, config.norm_eps),
            )
        )
        self.lm_head = nn.Linear(config.dim, config.vocab_size, bias=False)
        self.apply(init_weights)  # Hugging Face's Llama initialises as GPT-2 does
        if config.tie_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    @property
    def context_length(self) -> int:
        """The most positions the model accepts (``max_position_embeddings``)."""
        return self.config.max_position_embeddings

    def new_cache(self) -> KVCache:
        """An empty :class:`~utils.gpt.KVCache` for this model."""
        return KVCache(self.config.n_layers)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        _check_idx(idx, self.config.vocab_size)
        if cache is not None and not isinstance(cache, KVCache):
            raise TypeError(f"cache must be a KVCache (model.new_cache()), got {type(cache)}")
        if cache is not None and len(cache.keys) != self.config.n_layers:
            raise ValueError(
                f"this cache has {len(cache.keys)} layers, the model {self.config.n_layers}; "
                "make it with model.new_cache()"
            )
        start = 0 if cache is None else len(cache)
        T = idx.shape[1]
        if start + T > self.context_length:
            raise ValueError(
                f"{start + T} positions do not fit in the context of {self.context_length} "
                f"(max_position_embeddings): {start} cached + {T} new"
            )
        positions = torch.arange(start, start + T, device=idx.device)  # (T,)
        cos, sin = rope_cos_sin(positions, self.config.head_dim, self.config.rope_theta)
        x = self.model.embed_tokens(idx)  # (B, T, dim)
        for block in self.model.layers:
            x = block(x, cos, sin, cache)
        x = self.model.norm(x)
        return self.lm_head(x)  # (B, T, vocab_size)

    @classmethod
    def from_huggingface(cls, hf_model: nn.Module) -> Llama:
        """A float32 :class:`Llama`, in eval mode, with the weights of a ``transformers``
        ``LlamaForCausalLM`` (any size, grouped-query or not, tied or untied embeddings).

        Raises ``TypeError`` for another kind of model and ``ValueError`` for a Llama variant
        this file does not implement (RoPE scaling such as Llama 3.1's, an activation other than
        SiLU, MLP biases, or a ``head_dim`` other than ``hidden_size / num_attention_heads``).
        """
        hf_config = getattr(hf_model, "config", None)
        if getattr(hf_config, "model_type", None) != "llama" or not hasattr(hf_model, "lm_head"):
            raise TypeError(
                "from_huggingface expects a transformers LlamaForCausalLM, got "
                f"{type(hf_model).__name__}"
                + (f" (model_type {hf_config.model_type!r})" if hf_config is not None else "")
            )
        config = _config_from_huggingface(hf_config)
        model = cls(config)
        theirs = hf_model.state_dict()
        with torch.no_grad():
            for ours, hf_name in weight_names(config).items():
                if hf_name not in theirs:
                    raise ValueError(f"the Hugging Face model has no weight {hf_name!r}")
                model.get_parameter(ours).copy_(theirs[hf_name])
        if config.tie_embeddings and "lm_head.weight" in theirs:
            if not torch.equal(theirs["lm_head.weight"], theirs["model.embed_tokens.weight"]):
                raise ValueError("tie_word_embeddings is set but lm_head differs from embed_tokens")
        return model.float().eval()


def _config_from_huggingface(hf_config: object) -> LlamaConfig:
    """Our :class:`LlamaConfig` for a ``transformers`` ``LlamaConfig``, refusing what we lack."""
    if hf_config.hidden_act != "silu":
        raise ValueError(f"our SwiGLU uses SiLU; this model uses {hf_config.hidden_act!r}")
    if getattr(hf_config, "mlp_bias", False):
        raise ValueError("this model has biases in its MLP (mlp_bias=True); ours has none")
    n_heads = hf_config.num_attention_heads
    head_dim = getattr(hf_config, "head_dim", None)
    if head_dim not in (None, hf_config.hidden_size // n_heads):
        raise ValueError(
            f"head_dim {head_dim} is not hidden_size / num_attention_heads = "
            f"{hf_config.hidden_size} / {n_heads}; ours always is"
        )
    # transformers 5.x keeps the RoPE settings in rope_parameters; 4.x in rope_theta/rope_scaling.
    rope = dict(getattr(hf_config, "rope_parameters", None) or {})
    scaling = getattr(hf_config, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type") or scaling.get("rope_type") or scaling.get("type")
    if rope_type not in (None, "default"):
        raise ValueError(
            f"this model uses RoPE scaling of type {rope_type!r}; only plain RoPE "
            "(rope_type 'default') is implemented here"
        )
    theta = rope.get("rope_theta", getattr(hf_config, "rope_theta", None))
    if theta is None:
        raise ValueError("the model's config has no rope_theta (in rope_parameters or itself)")
    return LlamaConfig(
        vocab_size=hf_config.vocab_size,
        dim=hf_config.hidden_size,
        n_layers=hf_config.num_hidden_layers,
        n_heads=n_heads,
        n_kv_heads=hf_config.num_key_value_heads or n_heads,
        hidden_dim=hf_config.intermediate_size,
        rope_theta=float(theta),
        norm_eps=float(hf_config.rms_norm_eps),
        max_position_embeddings=hf_config.max_position_embeddings,
        tie_embeddings=bool(hf_config.tie_word_embeddings),
        attention_bias=bool(getattr(hf_config, "attention_bias", False)),
    )


def weight_names(config: LlamaConfig) -> dict[str, str]:
    """Our parameter names → ``LlamaForCausalLM``'s. This file uses Hugging Face's names, so the
    map is the identity; ``lm_head.weight`` is listed only when it is not tied to
    ``model.embed_tokens.weight``, and the attention biases only if ``attention_bias``.
    """
    if not isinstance(config, LlamaConfig):
        raise TypeError(f"config must be a LlamaConfig, got {type(config).__name__}")
    names = ["model.embed_tokens.weight"]
    for i in range(config.n_layers):
        p = f"model.layers.{i}."
        names.append(p + "input_layernorm.weight")
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            names.append(p + f"self_attn.{proj}.weight")
            if config.attention_bias:
                names.append(p + f"self_attn.{proj}.bias")
        names.append(p + "post_attention_layernorm.weight")
        names += [p + f"mlp.{proj}.weight" for proj in ("gate_proj", "up_proj", "down_proj")]
    names.append("model.norm.weight")
    if not config.tie_embeddings:
        names.append("lm_head.weight")
    return {n: n for n in names}
