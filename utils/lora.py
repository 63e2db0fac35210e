"""LoRA, low-rank adaptation (Hu et al., 2021), from scratch (chapter 09).

"We propose Low-Rank Adaptation, or LoRA, which freezes the pre-trained model weights and
injects trainable rank decomposition matrices into each layer of the Transformer architecture."
A frozen linear layer ``W`` (``out × in``) gets a trainable update ``ΔW = (alpha / r) · B A``
with ``A`` (``r × in``) and ``B`` (``out × r``), ``r`` much smaller than ``in`` and ``out``:

    h = W x + (alpha / r) · B (A x)

``B`` starts at zero, so the adapted model starts exactly equal to the base model; ``A`` starts
with Kaiming-uniform values (as ``nn.Linear`` and ``peft`` initialise it).

* :class:`LoRALinear`: one wrapped ``nn.Linear``.
* :func:`add_lora`: wrap the named linear layers of a model, freeze everything else; returns the
  number of trainable parameters.
* :func:`merge_lora`: fold ``ΔW`` into the base weights and put plain ``nn.Linear`` layers back
  (no extra cost at inference, the same outputs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .positional import _check_positive_int


class LoRALinear(nn.Module):
    """``base(x) + (alpha / r) · lora_B(lora_A(dropout(x)))`` with ``base`` frozen.

    ``x``: ``(..., in_features)`` → ``(..., out_features)``. ``lora_A`` is ``nn.Linear(in, r)``
    and ``lora_B`` is ``nn.Linear(r, out)``, both without bias; only they are trainable.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(f"LoRA wraps an nn.Linear, got {type(base).__name__}")
        _check_positive_int("r", r)
        if not isinstance(alpha, int | float) or isinstance(alpha, bool) or alpha <= 0:
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.base, self.r, self.alpha = base, r, alpha
        self.scaling = alpha / r
        for p in self.base.parameters():
            p.requires_grad_(False)
        kwargs = dict(device=base.weight.device, dtype=base.weight.dtype)
        self.lora_A = nn.Linear(base.in_features, r, bias=False, **kwargs)
        self.lora_B = nn.Linear(r, base.out_features, bias=False, **kwargs)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)  # the update starts at zero
        self.dropout = nn.Dropout(dropout)

    def delta_weight(self) -> torch.Tensor:
        """``ΔW = (alpha / r) · B A``, ``(out_features, in_features)``."""
        return self.scaling * self.lora_B.weight @ self.lora_A.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * self.lora_B(self.lora_A(self.dropout(x)))

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}"


def _matches(name: str, targets: Sequence[str]) -> bool:
    """A module matches a target if its name is the target or ends with ``"." + target``."""
    return any(name == t or name.endswith("." + t) for t in targets)


def add_lora(
    model: nn.Module,
    *,
    r: int,
    alpha: float,
    target_modules: Sequence[str],
    dropout: float = 0.0,
) -> int:
    """Replace every linear layer whose name ends with one of ``target_modules`` (e.g.
    ``("q_proj", "v_proj")``) by a :class:`LoRALinear`, freeze all other parameters, and return
    the number of trainable parameters. Raises ``ValueError`` if nothing matches or a matching
    module is not an ``nn.Linear``."""
    if isinstance(target_modules, str) or not target_modules:
        raise ValueError(
            f"target_modules must be a non-empty list of module names, got {target_modules!r}"
        )
    _check_positive_int("r", r)
    found = [(n, m) for n, m in model.named_modules() if n and _matches(n, target_modules)]
    if not found:
        raise ValueError(f"no module of the model matches target_modules={list(target_modules)}")
    for name, module in found:
        if isinstance(module, LoRALinear):
            raise ValueError(f"{name} already has LoRA")
        if not isinstance(module, nn.Linear):
            raise ValueError(f"{name} is a {type(module).__name__}, not an nn.Linear")
    for p in model.parameters():
        p.requires_grad_(False)
    for name, module in found:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(module, r, alpha, dropout))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def merge_lora(model: nn.Module) -> int:
    """Fold each :class:`LoRALinear`'s update into its base weight (``W ← W + ΔW``) and put the
    plain ``nn.Linear`` back in its place. Returns how many layers were merged; the model then
    gives the same outputs (up to rounding) with no LoRA left. The merged weights stay frozen."""
    merged = [(n, m) for n, m in model.named_modules() if isinstance(m, LoRALinear)]
    for name, module in merged:
        module.base.weight += module.delta_weight()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.base)
    return len(merged)
