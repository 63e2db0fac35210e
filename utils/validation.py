"""Checking arguments: one way for the whole library.

Every public function of ``utils`` checks what it is given and fails early, with a message that
names the argument, says what was expected and shows what came instead::

    >>> check_positive_int("d_model", 0)
    Traceback (most recent call last):
    ValueError: d_model must be a positive int, got 0

Two kinds of mistake, two exceptions:

* the wrong **type** raises ``TypeError``: ``d_model=2.5``, ``mask=[[True]]``, float token ids;
* the right type with a wrong **value** raises ``ValueError``: ``d_model=0``, ``dropout=1.5``,
  a tensor of the wrong shape.

Each checker returns the value it checked, so it can be used inline:
``self.d_model = check_positive_int("d_model", d_model)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection

import torch

#: The integer dtypes token ids may have (``padding_mask`` accepts any of them).
INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _given(value: object) -> str:
    """How a wrong value is shown in a message: its type, and the value when it is short."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


# ----------------------------------------------------------------------------------- types
def check_type(name: str, value: object, expected: type | tuple[type, ...], what: str) -> object:
    """``TypeError`` unless ``isinstance(value, expected)``; ``what`` says it in words
    (``"a str"``, ``"a torch.Generator or None"``). ``bool`` does not count as ``int``."""
    expected = expected if isinstance(expected, tuple) else (expected,)
    bool_for_int = isinstance(value, bool) and bool not in expected  # True is an int to Python
    if bool_for_int or not isinstance(value, expected):
        raise TypeError(f"{name} must be {what}, got {_given(value)}")
    return value


def check_choice(name: str, value: object, choices: Collection[object]) -> object:
    """``ValueError`` unless ``value`` is one of ``choices`` (``kind``, ``activation``, ...)."""
    try:
        ok = value in choices
    except TypeError:  # an unhashable value asked of a set or dict
        ok = False
    if not ok:
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {shown}, got {value!r}")
    return value


# --------------------------------------------------------------------------------- numbers
def _int_requirement(minimum: int | None) -> str:
    if minimum is None:
        return "an int"
    if minimum == 1:
        return "a positive int"
    if minimum == 0:
        return "a non-negative int"
    return f"an int >= {minimum}"


def check_int(name: str, value: object, *, minimum: int | None = None) -> int:
    """A Python ``int`` (not a ``bool``, not a float such as ``2.0``), at least ``minimum``.

    ``TypeError`` for another type, ``ValueError`` below ``minimum``."""
    requirement = _int_requirement(minimum)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be {requirement}, got {_given(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be {requirement}, got {value}")
    return value


def check_positive_int(name: str, value: object) -> int:
    """An ``int`` ≥ 1: a size, a count, a number of steps."""
    return check_int(name, value, minimum=1)


def check_non_negative_int(name: str, value: object) -> int:
    """An ``int`` ≥ 0: a token id, an index."""
    return check_int(name, value, minimum=0)


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high}"
    return ""


def check_number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number (``int`` or ``float``, not ``bool``) in the interval from ``low`` to
    ``high``; ``low_open``/``high_open`` leave an end out: ``check_number("lr", lr, low=0,
    low_open=True)`` asks for ``lr > 0``.

    ``TypeError`` for another type, ``ValueError`` for NaN, ±inf or a value outside."""
    interval = _interval(low, high, low_open, high_open)
    requirement = f"a number {interval}".rstrip()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {requirement}, got {_given(value)}")
    if not math.isfinite(value):
        finite = f"a finite number {interval}".rstrip()
        raise ValueError(f"{name} must be {finite}, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise ValueError(f"{name} must be {requirement}, got {value}")
    return value


def check_probability(name: str, value: object, *, allow_one: bool = False) -> float:
    """A probability such as a dropout rate: in ``[0, 1)``, or ``[0, 1]`` with ``allow_one``."""
    return check_number(name, value, low=0, high=1, high_open=not allow_one)


# --------------------------------------------------------------------------------- tensors
def _shape_text(shape: tuple[int | None, ...]) -> str:
    inner = ", ".join("*" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def check_tensor(
    name: str,
    value: object,
    *,
    ndim: int | None = None,
    min_ndim: int | None = None,
    dims: str | None = None,
) -> torch.Tensor:
    """A ``torch.Tensor`` with exactly ``ndim`` dimensions (or at least ``min_ndim``).

    ``dims`` names the dimensions for the message, e.g. ``"(batch, seq)"``: ``TypeError``
    "ids must be a tensor (batch, seq), got list [...]" for something that is not a tensor,
    ``ValueError`` "ids must be (batch, seq), got shape (5,)" for the wrong number of
    dimensions."""
    if dims is None:
        if ndim is not None:
            dims = f"a {ndim}-D tensor"
        elif min_ndim is not None:
            dims = f"a tensor with at least {min_ndim} dimensions"
        else:
            dims = "a tensor"
    if not isinstance(value, torch.Tensor):
        article = "" if dims.startswith(("a ", "an ")) else "a tensor "
        raise TypeError(f"{name} must be {article}{dims}, got {_given(value)}")
    if (ndim is not None and value.dim() != ndim) or (
        min_ndim is not None and value.dim() < min_ndim
    ):
        raise ValueError(f"{name} must be {dims}, got shape {tuple(value.shape)}")
    return value


def check_shape(
    name: str, value: object, shape: tuple[int | None, ...], *, dims: str | None = None
) -> torch.Tensor:
    """A tensor of exactly ``shape``, where ``None`` matches any size: ``(None, None, 8)`` is
    any ``(batch, seq, 8)``. ``dims`` names the dimensions for the message, e.g.
    ``"(batch, seq, d_model=8)"``."""
    dims = dims or f"of shape {_shape_text(shape)}"
    check_tensor(name, value, ndim=len(shape), dims=dims)
    if any(want is not None and got != want for want, got in zip(shape, value.shape, strict=True)):
        raise ValueError(f"{name} must be {dims}, got shape {tuple(value.shape)}")
    return value  # type: ignore[return-value]


def check_dtype(
    name: str,
    value: torch.Tensor,
    dtypes: torch.dtype | tuple[torch.dtype, ...],
    what: str | None = None,
) -> torch.Tensor:
    """``TypeError`` unless the tensor's dtype is one of ``dtypes``; ``what`` says it in words
    (``"integer token ids"``)."""
    allowed = dtypes if isinstance(dtypes, tuple) else (dtypes,)
    if value.dtype not in allowed:
        what = what or "a tensor of dtype " + " or ".join(str(d) for d in allowed)
        raise TypeError(f"{name} must be {what}, got dtype {value.dtype}")
    return value


def check_ids(name: str, value: object, vocab_size: int | None = None) -> torch.Tensor:
    """Token ids for an embedding: an ``int64`` tensor ``(batch, seq)``, every id in
    ``[0, vocab_size)`` when ``vocab_size`` is given (``nn.Embedding`` fails on others with a
    less helpful message)."""
    check_tensor(name, value, ndim=2, dims="(batch, seq)")
    check_dtype(name, value, torch.int64, "an int64 tensor (batch, seq) of token ids")
    if (
        vocab_size is not None
        and value.numel()
        and not 0 <= value.min() <= value.max() < vocab_size
    ):
        raise ValueError(
            f"{name} must lie in [0, {vocab_size}) (the vocabulary size), "
            f"got ids from {value.min().item()} to {value.max().item()}"
        )
    return value
