"""The course's figures: a few plotting helpers used across chapters and solutions.

Every function draws on a matplotlib ``Axes`` (a new figure when ``ax`` is ``None``) and returns
that ``Axes``, so a notebook can add to it or place several side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def lines(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    logx: bool = False,
    logy: bool = False,
    hline: tuple[float, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """One line with markers per entry of ``series`` (label → y values, same length as ``x``).

    ``hline=(y, label)`` adds a dashed reference line, e.g. chance accuracy.
    """
    ax = _axes(ax, (6.4, 3.6))
    marker = "o" if len(x) <= 30 else None  # markers on a few measured points, not on a curve
    for label, ys in series.items():
        if len(ys) != len(x):
            raise ValueError(f"series {label!r} has {len(ys)} values for {len(x)} x positions")
        ax.plot(x, ys, marker=marker, markersize=4, label=label)
    if hline is not None:
        ax.axhline(hline[0], color="gray", linestyle="--", linewidth=1, label=hline[1])
    if logx:
        ax.set_xscale("log", base=2)
        if len(x) <= 12:  # label the measured x values themselves, not powers of two
            ax.set_xticks(list(x), [f"{v:g}" for v in x])
            ax.minorticks_off()
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    return ax


def timeline(
    events: Sequence[tuple[float, str]], *, title: str = "", ax: Axes | None = None
) -> Axes:
    """Events ``(year, label)`` in order along a line, labels alternating above and below.

    The events are evenly spaced (not to scale), so that close years stay readable.
    """
    if not events:
        raise ValueError("events is empty")
    ax = _axes(ax, (1.3 * len(events) + 1, 2.8))
    ax.axhline(0, color="black", linewidth=1)
    for i, (year, label) in enumerate(sorted(events)):
        up = 1 if i % 2 == 0 else -1
        ax.plot([i, i], [0, 0.55 * up], color="tab:blue", linewidth=1)
        ax.plot(i, 0, "o", color="tab:blue")
        text = f"{year:g}\n{label}" if up > 0 else f"{label}\n{year:g}"
        ax.text(i, 0.62 * up, text, ha="center", va="bottom" if up > 0 else "top", fontsize=8)
    ax.set_xlim(-0.8, len(events) - 0.2)
    ax.set_ylim(-1.6, 1.6)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def unrolled_rnn(
    steps: int = 4, *, cell: str = "cell", state: str = "h", ax: Axes | None = None
) -> Axes:
    """The standard picture of a recurrent network unrolled in time.

    The same ``cell`` (same weights) appears once per step; inputs ``x_t`` enter from below,
    outputs ``h_t`` leave upwards, and the state passes from each step to the next. The chain of
    right-pointing arrows is the part that cannot run in parallel.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    ax = _axes(ax, (1.7 * steps + 1, 2.6))

    def arrow(a: tuple[float, float], b: tuple[float, float], color: str = "black") -> None:
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, color=color))

    for t in range(steps):
        x0 = 1.7 * t + 0.8
        ax.add_patch(
            FancyBboxPatch(
                (x0, 0.8),
                1.0,
                0.8,
                boxstyle="round,pad=0.05",
                facecolor="#dbe9f6",
                edgecolor="tab:blue",
            )
        )
        ax.text(x0 + 0.5, 1.2, cell, ha="center", va="center", fontsize=9)
        ax.text(x0 + 0.5, 0.05, f"$x_{{{t + 1}}}$", ha="center", va="center")
        ax.text(x0 + 0.5, 2.35, f"${state}_{{{t + 1}}}$", ha="center", va="center")
        arrow((x0 + 0.5, 0.25), (x0 + 0.5, 0.75))
        arrow((x0 + 0.5, 1.65), (x0 + 0.5, 2.15))
        arrow((x0 - 0.65, 1.2), (x0 - 0.05, 1.2), color="tab:red")
    ax.text(0.1, 1.35, f"${state}_0$", ha="center", va="bottom", color="tab:red")
    ax.set_xlim(0, 1.7 * steps + 0.8)
    ax.set_ylim(-0.2, 2.6)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def transformer_diagram(*, norm_first: bool = False, ax: Axes | None = None) -> Axes:
    """The encoder-decoder Transformer as blocks, after Figure 1 of Vaswani et al. (2017).

    Left: the encoder (source embedding and positions, then ``N`` layers of self-attention and
    feed-forward). Right: the decoder (target embedding and positions, then ``N`` layers of
    masked self-attention, cross-attention and feed-forward, then the output layer). The red
    arrow is the memory: the encoder's output, which every decoder layer's cross-attention
    reads as keys and values. ``norm_first`` draws "Norm" before each sub-layer (pre-LN)
    instead of "Add & Norm" after it (post-LN). The grey lines beside each column are the
    residual connections: each carries a sub-layer's input around it to the sum (⊕ in pre-LN,
    where the sum is a plain addition after the sub-layer; inside "Add & Norm" in post-LN).
    """
    ax = _axes(ax, (8.0, 7.0))
    attn, ff, norm, emb = "#f6d8ae", "#c9e4ca", "#e8e8e8", "#dbe9f6"

    def box(x, y, text, color, w=3.0):
        patch = FancyBboxPatch((x - w / 2, y - 0.24), w, 0.48, boxstyle="round,pad=0.04")
        patch.set(facecolor=color, edgecolor="0.3")
        ax.add_patch(patch)
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5)

    def arrow(a, b, color="black"):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=11, color=color))

    def skip(x, y0, y1, side, plus):
        """A residual path beside the column from height y0 to y1; ⊕ where it is added."""
        edge, out = (x + 1.54, x + 1.78) if side == "left" else (x - 1.54, x - 1.78)
        ax.plot([x, out, out], [y0, y0, y1], color="0.45", lw=1.1, zorder=0)
        # into the ⊕ (stopping at its rim) or into the side of the "Add & Norm" box
        end = x + (0.09 if side == "left" else -0.09) if plus else edge
        arrow((out, y1), (end, y1), color="0.45")
        if plus:
            ax.text(
                x,
                y1,
                "⊕",
                ha="center",
                va="center",
                fontsize=11,
                color="0.2",
                bbox=dict(boxstyle="circle,pad=0.0", fc="white", ec="none"),
            )

    gap = 0.76  # between the centres of two boxes in a layer

    def column(x, source, blocks, name, side):
        """Input box, embedding, the layer stack in a frame; returns the blocks' heights."""
        box(x, 0.3, source, "white")
        box(x, 1.0, "embedding ×√d + positions", emb)
        arrow((x, 0.56), (x, 0.74))
        add = "Norm" if norm_first else "Add & Norm"
        ys = []
        for text, color in blocks:
            for label, c in [(add, norm), (text, color)][:: 1 if norm_first else -1]:
                ys.append(2.0 + gap * len(ys))
                box(x, ys[-1], label, c)
                arrow((x, ys[-1] - gap + 0.28 if len(ys) > 1 else 1.28), (x, ys[-1] - 0.28))
            # the residual path: from below this sub-layer's pair of boxes to its sum
            start = ys[-2] - gap / 2 if len(ys) > 2 else 1.64
            if norm_first:
                skip(x, start, ys[-1] + gap / 2, side, plus=True)
            else:
                skip(x, start, ys[-1], side, plus=False)
        frame = FancyBboxPatch(
            (x - 1.92, ys[0] - 0.48), 3.84, ys[-1] - ys[0] + 0.96, boxstyle="round,pad=0.05"
        )
        frame.set(fill=False, edgecolor="tab:blue", lw=1.5)
        ax.add_patch(frame)
        dx = 2.1 if side == "left" else -2.1
        label = f"{name}\nlayer × N" + ("\n+ final Norm" if norm_first else "")
        ax.text(
            x - dx,
            (ys[0] + ys[-1]) / 2,
            label,
            ha="right" if side == "left" else "left",
            va="center",
            color="tab:blue",
            fontsize=9,
        )
        return ys

    enc = column(
        2,
        "source ids",
        [("multi-head self-attention", attn), ("feed-forward", ff)],
        "encoder",
        "left",
    )
    dec = column(
        6.4,
        "target so far (<bos> y1 … yt)",
        [("masked self-attention", attn), ("cross-attention", attn), ("feed-forward", ff)],
        "decoder",
        "right",
    )
    top = dec[-1] + 1.0
    box(6.4, top, "linear → softmax", "#e3d7f0")
    arrow((6.4, dec[-1] + 0.55), (6.4, top - 0.28))
    arrow((6.4, top + 0.26), (6.4, top + 0.42))
    ax.text(6.4, top + 0.55, "probabilities of y(t+1)", ha="center", va="center", fontsize=9)
    # memory: the encoder's output → every decoder layer's cross-attention (keys and values)
    cross = dec[3] if norm_first else dec[2]
    y_mem = enc[-1] + 0.85
    arrow((2, enc[-1] + 0.55), (2, y_mem - 0.13), color="tab:red")
    ax.text(
        2, y_mem, "memory (keys and values)", ha="center", va="center", color="tab:red", fontsize=9
    )
    arrow((2.5, y_mem - 0.1), (4.9, cross), color="tab:red")
    ax.set_xlim(-1.2, 9.6)
    ax.set_ylim(0, top + 0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def heatmap(
    values: Any,
    *,
    xlabels: Sequence[str] | None = None,
    ylabels: Sequence[str] | None = None,
    title: str = "",
    annotate: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
    colorbar: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """A matrix ``(rows, cols)`` as an image: similarities, encodings, attention weights.

    ``xlabels``/``ylabels`` name the columns/rows; ``annotate=True`` writes each value in its cell
    (for small matrices). The image is ``ax.images[0]``, e.g. for a shared colour bar.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2-D matrix, got shape {values.shape}")
    for name, labels, n in (
        ("xlabels", xlabels, values.shape[1]),
        ("ylabels", ylabels, values.shape[0]),
    ):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{name} has {len(labels)} labels for {n} positions")
    ax = _axes(ax, (4.5, 4))
    image = ax.imshow(values, vmin=vmin, vmax=vmax, cmap=cmap, aspect="auto")
    ax.grid(False)
    if xlabels is not None:
        ax.set_xticks(range(len(xlabels)), xlabels, rotation=45, ha="right")
    if ylabels is not None:
        ax.set_yticks(range(len(ylabels)), ylabels)
    if annotate:
        middle = np.nanmean([image.norm.vmin, image.norm.vmax])
        for i, j in np.ndindex(values.shape):
            color = "white" if values[i, j] < middle else "black"
            ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7, color=color)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, shrink=0.8)
    if title:
        ax.set_title(title)
    return ax


def bert_inputs(
    tokens: Sequence[str], token_types: Sequence[int], *, ax: Axes | None = None
) -> Axes:
    """BERT's input representation, after Figure 2 of Devlin et al. (2019): for every token, the
    sum of a token embedding, a segment (token-type) embedding and a position embedding.

    ``tokens``: the WordPiece tokens (with ``[CLS]``/``[SEP]``); ``token_types``: 0 for segment
    A, 1 for segment B, one per token.
    """
    if len(tokens) != len(token_types):
        raise ValueError(f"{len(tokens)} tokens but {len(token_types)} token types")
    if not tokens:
        raise ValueError("tokens is empty")
    n = len(tokens)
    ax = _axes(ax, (1.05 * n + 1.8, 3.2))
    rows = [
        ("token", "#f6d8ae", lambda i: f"E[{tokens[i].replace('$', '')}]"),
        ("segment", "#c9e4ca", lambda i: f"$E_{'AB'[token_types[i]]}$"),
        ("position", "#dbe9f6", lambda i: f"$E_{{{i}}}$"),
    ]
    for i, token in enumerate(tokens):
        x = 1.05 * i + 1.6
        ax.text(x, 3.25, token, ha="center", va="center", fontsize=9, fontweight="bold")
        for r, (_, color, label) in enumerate(rows):
            y = 2.5 - 0.9 * r
            patch = FancyBboxPatch((x - 0.42, y - 0.25), 0.84, 0.5, boxstyle="round,pad=0.03")
            patch.set(facecolor=color, edgecolor="0.4")
            ax.add_patch(patch)
            ax.text(x, y, label(i), ha="center", va="center", fontsize=7.5)
            if r:
                ax.text(x, y + 0.45, "+", ha="center", va="center", fontsize=10)
    for r, (name, _, _) in enumerate(rows):
        ax.text(0.95, 2.5 - 0.9 * r, f"{name}\nembeddings", ha="right", va="center", fontsize=8.5)
    ax.set_xlim(-0.3, 1.05 * n + 1.2)
    ax.set_ylim(0.4, 3.5)
    ax.axis("off")
    return ax
