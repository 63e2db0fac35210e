"""Scaling laws: how the loss of a language model falls with its size, its data and its compute.

Chapter 09.1 measures them on our own GPT and writes each piece first.

* :func:`count_parameters`: the parameters of a model, each shared tensor once, with or without
  the embeddings (Kaplan et al. 2020 count *non-embedding* parameters; Hoffmann et al. 2022
  count all of them).
* :func:`training_flops`: the compute of a training run, ``C ≈ 6·N·D`` floating-point operations
  (2·N per token for the forward pass, 4·N for the backward pass).
* :func:`fit_power_law`: the least-squares line through ``(log x, log y)``, that is
  ``y ≈ a · x^(-alpha)``, as a :class:`PowerLaw`.
* :data:`KAPLAN` and :data:`CHINCHILLA`: the published constants, and :func:`chinchilla_loss`,
  Hoffmann et al.'s parametric fit ``L(N, D) = E + A / N^alpha + B / D^beta``.
* :func:`chinchilla_optimal`: the compute-optimal model size and token count for a budget with
  the rule of thumb of about 20 training tokens per parameter.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import NamedTuple

from torch import nn

#: Kaplan et al. (2020), "Scaling Laws for Neural Language Models", eq. (1.1): the test loss
#: (nats per BPE token, WebText2) of models trained to convergence on enough data is
#: ``L(N) = (N_c / N)^alpha_N`` with N the number of *non-embedding* parameters; with data as the
#: limit, ``L(D) = (D_c / D)^alpha_D`` (eq. 1.2). They find ``N_opt ∝ C^0.73`` for a compute
#: budget C.
KAPLAN = {"alpha_N": 0.076, "N_c": 8.8e13, "alpha_D": 0.095, "D_c": 5.4e13, "a": 0.73}

#: Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models", eq. (10) (their
#: "approach 3"): ``L(N, D) = E + A / N^alpha + B / D^beta``, in nats per token on MassiveText,
#: N the total number of parameters, D the training tokens. ``E`` is the loss no model can beat
#: (the entropy of the text). Their three approaches give ``N_opt ∝ C^a`` with a between 0.46 and
#: 0.50: parameters and tokens should grow in equal proportion, about 20 tokens per parameter.
CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def _check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {type(value).__name__} {value!r}")
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return float(value)


def count_parameters(model: nn.Module, non_embedding: bool = False) -> int:
    """The number of parameters of ``model``, each tensor once (a tied output layer is the token
    embedding, not a second matrix). With ``non_embedding=True``, the weights of every
    ``nn.Embedding`` (token and position embeddings, and so a tied output layer) are left out,
    as Kaplan et al. (2020) count ``N``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    excluded: set[int] = set()
    if non_embedding:
        excluded = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    # model.parameters() yields a shared tensor once
    return sum(p.numel() for p in model.parameters() if id(p) not in excluded)


def training_flops(n_params: float, n_tokens: float) -> float:
    """The compute of training a model of ``n_params`` parameters on ``n_tokens`` tokens:
    ``C = 6 · N · D`` floating-point operations (Kaplan et al. 2020, section 2.1: a forward pass
    costs about 2 operations per parameter and token, the backward pass twice that). It leaves
    out attention's ``n_layer · n_ctx · d_model`` term per token, small when ``d_model`` is much
    larger than ``n_ctx / 12``."""
    return 6.0 * _check_positive("n_params", n_params) * _check_positive("n_tokens", n_tokens)


class PowerLaw(NamedTuple):
    """``y = coefficient · x^(-exponent)``: a straight line of slope ``-exponent`` on log-log
    axes. Call it on an ``x`` (a number) to predict ``y``."""

    coefficient: float
    exponent: float

    def __call__(self, x: float) -> float:
        return self.coefficient * _check_positive("x", x) ** (-self.exponent)


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> PowerLaw:
    """Least squares in log space: ``log y = log a - alpha · log x`` for points ``x``, ``y`` (two
    sequences of the same length ≥ 2, all positive, ``x`` not all equal). Returns
    ``PowerLaw(a, alpha)``; a loss that falls with ``x`` has ``alpha > 0``."""
    x, y = list(x), list(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if len(x) < 2:
        raise ValueError(f"a power law needs at least 2 points, got {len(x)}")
    lx = [math.log(_check_positive("x", v)) for v in x]
    ly = [math.log(_check_positive("y", v)) for v in y]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    var = sum((u - mx) ** 2 for u in lx)
    if var == 0:
        raise ValueError("x must hold at least two different values")
    slope = sum((u - mx) * (v - my) for u, v in zip(lx, ly, strict=True)) / var
    return PowerLaw(coefficient=math.exp(my - slope * mx), exponent=-slope)


def chinchilla_loss(n_params: float, n_tokens: float, constants: dict | None = None) -> float:
    """Hoffmann et al.'s parametric loss ``E + A / N^alpha + B / D^beta`` (nats per token of
    their data and tokenizer) for ``n_params`` parameters trained on ``n_tokens`` tokens.
    ``constants`` defaults to :data:`CHINCHILLA`."""
    c = CHINCHILLA if constants is None else constants
    n, d = _check_positive("n_params", n_params), _check_positive("n_tokens", n_tokens)
    return c["E"] + c["A"] / n ** c["alpha"] + c["B"] / d ** c["beta"]


def chinchilla_optimal(compute: float, tokens_per_parameter: float = 20.0) -> tuple[float, float]:
    """The model size ``N`` and token count ``D`` that spend ``compute`` FLOPs (``C = 6·N·D``)
    with ``D = tokens_per_parameter · N``: ``N = sqrt(C / (6 r))``, ``D = r · N``.

    About 20 tokens per parameter is the rule of thumb read from Hoffmann et al.'s Table 3; their
    model Chinchilla has 70 billion parameters and was trained on 1.4 trillion tokens."""
    c = _check_positive("compute", compute)
    r = _check_positive("tokens_per_parameter", tokens_per_parameter)
    n = math.sqrt(c / (6.0 * r))
    return n, r * n
