"""T5's pretraining objective (Raffel et al., 2020, section 3.1.4): span corruption.

"We randomly sample and then drop out 15% of tokens in the input sequence. All consecutive spans
of dropped-out tokens are replaced by a single sentinel token. ... The target then corresponds to
all of the dropped-out spans of tokens, delimited by the same sentinel tokens used in the input
sequence plus a final sentinel token to mark the end of the target sequence."

* :func:`random_spans_noise_mask`: which tokens are noise, in spans (T5's algorithm).
* :func:`span_corruption`: ``(inputs, targets)`` for a list of ids.
* :func:`fill_spans`: the reverse, putting each span back in place of its sentinel.

Chapter 08 uses them; :mod:`utils.t5` re-exports them.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Sequence

import torch

from .validation import check_number, check_positive_int, check_type


def random_spans_noise_mask(
    length: int,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
    *,
    generator: torch.Generator | None = None,
) -> list[bool]:
    """Which of ``length`` tokens to corrupt, as T5's ``random_spans_noise_mask`` chooses them.

    * ``num_noise = round(length · noise_density)`` tokens, at least 1 and at most
      ``length - 1``;
    * in ``num_spans = round(num_noise / mean_span_length)`` spans, at least 1 (and at most the
      number of kept tokens, so that kept and noise spans can alternate);
    * the noise tokens are cut into ``num_spans`` non-empty spans at random, and so are the kept
      tokens, every way of cutting being equally likely; the spans then alternate, *kept first*:
      ``kept, noise, kept, noise, ..., kept, noise``. So the first token is never noise and the
      last always is.

    As in T5, a length of 1 is treated as 2 and the mask cut back to 1 token: a one-token
    sequence is left uncorrupted. ``generator`` is a ``torch.Generator`` (``None``: PyTorch's
    global one, which ``torch.manual_seed`` sets).
    """
    check_positive_int("length", length)
    _check_noise(noise_density, mean_span_length)
    check_type("generator", generator, (torch.Generator, type(None)), "a torch.Generator or None")
    padded = max(length, 2)  # avoid degenerate cases, as T5 does
    num_noise = min(max(round(padded * noise_density), 1), padded - 1)
    num_kept = padded - num_noise
    num_spans = min(max(round(num_noise / mean_span_length), 1), num_kept)
    noise_lengths = _random_segmentation(num_noise, num_spans, generator)
    kept_lengths = _random_segmentation(num_kept, num_spans, generator)
    mask: list[bool] = []
    for kept, noise in zip(kept_lengths, noise_lengths, strict=True):
        mask += [False] * kept + [True] * noise
    return mask[:length]


def _random_segmentation(
    num_items: int, num_segments: int, generator: torch.Generator | None
) -> list[int]:
    """Cut ``num_items`` into ``num_segments`` non-empty parts at random: the lengths, in order.

    T5 shuffles ``num_items - 1`` flags of which ``num_segments - 1`` say "a segment starts
    after this item"; drawing those cut points without replacement is the same thing.
    """
    order = torch.randperm(num_items - 1, generator=generator)
    cuts = sorted((order[: num_segments - 1] + 1).tolist())
    bounds = [0, *cuts, num_items]
    return [end - start for start, end in itertools.pairwise(bounds)]


def span_corruption(
    tokens: Sequence[int],
    *,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
    sentinel_ids: Sequence[int],
    generator: torch.Generator | None = None,
) -> tuple[list[int], list[int]]:
    """T5's pretraining example from ``tokens`` (a list of ids): ``(inputs, targets)``.

    The mask comes from :func:`random_spans_noise_mask` (about ``noise_density`` of the tokens,
    in spans of ``mean_span_length`` on average). In ``inputs`` each noise span is replaced by
    one sentinel, ``sentinel_ids[0]`` for the first span, ``sentinel_ids[1]`` for the next, and so
    on. ``targets`` is each span's sentinel followed by the span's tokens, and then one more
    sentinel: the paper's example

        inputs:  Thank you <X> me to your party <Y> week.
        targets: <X> for inviting <Y> last <Z>

    ends with ``<Z>`` to mark where the last span stops (in T5's code that sentinel stands for
    the kept text after the last span; here it is always appended). So ``k`` spans need
    ``k + 1`` sentinel ids; T5's are ``<extra_id_0>``, ``<extra_id_1>``, ... (ids ``32099``,
    ``32098``, ... in its vocabulary). :func:`fill_spans` puts the spans back.

    ``generator`` is a ``torch.Generator`` for repeatable examples (``None``: the global one).
    Raises ``ValueError`` for empty ``tokens``, ``tokens`` that contain a sentinel id,
    ``noise_density`` outside ``(0, 1)``, ``mean_span_length < 1``, or too few sentinel ids.
    """
    tokens = _check_ids("tokens", tokens)
    if not tokens:
        raise ValueError("tokens is empty: give at least one token id")
    sentinels = _check_sentinels(sentinel_ids)
    clashes = sorted(set(tokens) & set(sentinels))
    if clashes:
        raise ValueError(
            f"tokens contain sentinel ids {clashes[:5]}: the sentinels must be ids that the "
            "text itself never uses"
        )
    mask = random_spans_noise_mask(
        len(tokens), noise_density, mean_span_length, generator=generator
    )
    num_spans = sum(m and (i == 0 or not mask[i - 1]) for i, m in enumerate(mask))
    if num_spans + 1 > len(sentinels):
        raise ValueError(
            f"{len(tokens)} tokens give {num_spans} noise spans, which need {num_spans + 1} "
            f"sentinel ids (one per span and a final one), got {len(sentinels)}"
        )
    inputs: list[int] = []
    targets: list[int] = []
    span = -1
    for i, (token, noise) in enumerate(zip(tokens, mask, strict=True)):
        if noise and (i == 0 or not mask[i - 1]):  # a new span starts: its sentinel
            span += 1
            inputs.append(sentinels[span])
            targets.append(sentinels[span])
        (targets if noise else inputs).append(token)
    targets.append(sentinels[span + 1])  # the final sentinel
    return inputs, targets


def fill_spans(
    inputs: Sequence[int],
    targets: Sequence[int],
    sentinel_ids: Sequence[int],
    *,
    strict: bool = True,
) -> list[int]:
    """Undo :func:`span_corruption`: replace each sentinel in ``inputs`` by the tokens that follow
    the same sentinel in ``targets`` (up to the next sentinel). Returns a list of ids.

    ``fill_spans(*span_corruption(tokens, sentinel_ids=s), s) == tokens``. With ``strict=True``
    it raises ``ValueError`` if ``targets`` has tokens before its first sentinel, repeats a
    sentinel, or lacks the span of a sentinel in ``inputs``; with ``strict=False`` (for a model's
    imperfect predictions) such a span is left empty, extra tokens are dropped and the first
    copy of a repeated sentinel wins.
    """
    inputs = _check_ids("inputs", inputs)
    targets = _check_ids("targets", targets)
    sentinels = set(_check_sentinels(sentinel_ids))
    spans: dict[int, list[int]] = {}
    current: list[int] | None = None
    for token in targets:
        if token in sentinels:
            if token not in spans:
                current = spans[token] = []  # the tokens up to the next sentinel go here
            elif strict:
                raise ValueError(f"sentinel {token} appears twice in targets")
            else:
                current = []  # a repeated sentinel: its tokens are dropped
        elif current is not None:
            current.append(token)
        elif strict:
            raise ValueError(f"targets must start with a sentinel id, got {targets[:3]}...")
    filled: list[int] = []
    for token in inputs:
        if token not in sentinels:
            filled.append(token)
        elif token in spans:
            filled += spans[token]
        elif strict:
            raise ValueError(f"sentinel {token} is in inputs but has no span in targets")
    return filled


def _check_ids(name: str, ids: object) -> list[int]:
    if isinstance(ids, torch.Tensor) or not isinstance(ids, (list, tuple, range)):
        hint = " (use tensor.tolist())" if isinstance(ids, torch.Tensor) else ""
        raise TypeError(f"{name} must be a list of int ids, got {type(ids).__name__}{hint}")
    for t in ids:
        if isinstance(t, bool) or not isinstance(t, numbers.Integral):
            raise TypeError(f"{name} must hold int ids, got {t!r} ({type(t).__name__})")
    return [int(t) for t in ids]


def _check_sentinels(sentinel_ids: object) -> list[int]:
    sentinels = _check_ids("sentinel_ids", sentinel_ids)
    if not sentinels:
        raise ValueError("sentinel_ids is empty: give one id per span, plus one")
    if len(set(sentinels)) != len(sentinels):
        raise ValueError("sentinel_ids must be distinct")
    return sentinels


def _check_noise(noise_density: object, mean_span_length: object) -> None:
    check_number("noise_density", noise_density, low=0, high=1, low_open=True, high_open=True)
    check_number("mean_span_length", mean_span_length, low=1)
