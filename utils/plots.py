"""The course's figures: a few plotting helpers used across chapters and solutions.

Every function draws on a matplotlib ``Axes`` (a new figure when ``ax`` is ``None``) and returns
that ``Axes``, so a notebook can add to it or place several side by side.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Circle, Ellipse, FancyArrowPatch, FancyBboxPatch


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


# --- block diagrams drawn to be read on a projector and in a dark-theme book -----------------
# Opaque white background, black text, no transparency, and one colour per kind of block:
_INPUT = "#dbe9f6"  # activations: inputs and outputs
_WEIGHT = "#e3d7f0"  # learned parameters (weight matrices)
_PROJ = "#c9e4ca"  # projections Q, K, V; the LSTM's tanh layer
_ATTN = "#f6d8ae"  # attention scores and weights; the LSTM's σ gates; a new BPE token
_OP = "#eeeeee"  # an operation (no parameters)
_EDGE = "0.3"
_HIGHLIGHT_EDGE = "#b35900"
_CELL_STATE = "#c0392b"  # the LSTM's cell-state line
_MONO = {"family": "DejaVu Sans Mono", "parse_math": False}
_HEAD_COLORS = (
    "#9ecae1",
    "#fdae6b",
    "#a1d99b",
    "#f4a6a6",
    "#c7b3e5",
    "#d9b99b",
    "#f7b6d2",
    "#c7c7a0",
)


def _diagram_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """A blank ``Axes`` on an opaque white background (no ticks, spines or grid).

    A new figure of ``figsize`` is filled by the ``Axes`` with no layout engine, so that one
    data unit is a known length on paper and the text fits the boxes drawn around it."""
    if ax is None:
        ax = plt.figure(figsize=figsize, layout="none").add_axes((0.01, 0.01, 0.98, 0.98))
    ax.figure.patch.set(facecolor="white", alpha=1.0)
    ax.set_facecolor("white")
    ax.patch.set_alpha(1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_aspect("equal")
    return ax


def _text(ax: Axes, x: float, y: float, s: str, **kwargs: Any) -> None:
    kwargs = {"ha": "center", "va": "center", "color": "black", "fontsize": 10, **kwargs}
    ax.text(x, y, s, **kwargs)


def _rect(
    ax: Axes,
    center: tuple[float, float],
    size: tuple[float, float],
    color: str,
    *,
    edge: str = _EDGE,
    lw: float = 1.0,
    round_: float = 0.04,
    gid: str | None = None,
) -> FancyBboxPatch:
    """A box of ``size`` (width, height) centred at ``center``; the rounding stays inside."""
    (x, y), (w, h) = center, size
    patch = FancyBboxPatch(
        (x - w / 2 + round_, y - h / 2 + round_),
        w - 2 * round_,
        h - 2 * round_,
        boxstyle=f"round,pad={round_}",
        facecolor=color,
        edgecolor=edge,
        linewidth=lw,
        gid=gid,
    )
    ax.add_patch(patch)
    return patch


def _arrow(
    ax: Axes,
    *points: tuple[float, float],
    color: str = "black",
    lw: float = 1.3,
    head: bool = True,
) -> None:
    """A line through ``points`` with an arrow head on the last segment."""
    xs, ys = zip(*points, strict=True)
    if len(points) > 2:
        ax.plot(xs[:-1], ys[:-1], color=color, lw=lw, solid_capstyle="butt", zorder=1)
    ax.add_patch(
        FancyArrowPatch(
            points[-2],
            points[-1],
            arrowstyle="-|>" if head else "-",
            mutation_scale=13,
            color=color,
            lw=lw,
            shrinkA=0,
            shrinkB=0,
            zorder=1,
        )
    )


def _op(ax: Axes, center: tuple[float, float], symbol: str, r: float = 0.28) -> None:
    """A point-wise operation (×, +) as a white circle."""
    circle = Circle(center, r, facecolor="white", edgecolor="black", lw=1.3, zorder=3)
    ax.add_patch(circle)
    _text(ax, *center, symbol, fontsize=15, zorder=4)


def lstm_cell_diagram(ax: Axes | None = None) -> Axes:
    r"""One LSTM cell, after Olah's "Understanding LSTM Networks" (2015), with its equations.

    Inputs: ``x_t`` (from below) and ``h_{t-1}`` (from the left), joined into
    ``[h_{t-1}, x_t]``, which feeds four learned layers (boxes): the forget gate
    ``f_t = σ(W_f [h_{t-1}, x_t] + b_f)``, the input gate ``i_t`` (σ), the candidate
    ``g_t = c̃_t`` (tanh) and the output gate ``o_t`` (σ). Circles are element-wise operations.
    The thick red line along the top is the cell state: ``c_{t-1}`` is multiplied by ``f_t`` and
    ``i_t ⊙ g_t`` is added, giving ``c_t``; with only a product and a sum on the way, gradients
    flow along it for many steps. Last, ``h_t = o_t ⊙ tanh(c_t)``. The equations are written
    under the cell.
    """
    ax = _diagram_axes(ax, (9.6, 7.4))
    top, bus = 5.8, 0.9  # heights of the cell-state line and of the [h_{t-1}, x_t] line
    gate_y, gate_w, gate_h = 2.0, 1.5, 0.95
    xf, xi, xg, xo, xc = 2.9, 4.8, 6.7, 8.6, 10.3  # the gates, and the tanh(c_t) column
    xm = (xi + xg) / 2  # where i_t ⊙ g_t is formed and added
    r = 0.28  # radius of an operation's circle

    frame = FancyBboxPatch((0.9, 0.25), 10.5, 6.25, boxstyle="round,pad=0.1")
    frame.set(facecolor="#f5f5f5", edgecolor="0.55", lw=1.2, zorder=0)
    ax.add_patch(frame)
    _text(ax, 11.3, 0.5, "LSTM cell", ha="right", fontsize=10, color="0.3")

    # the cell state: the highway along the top
    cell = {"color": _CELL_STATE, "lw": 4.5}
    _arrow(ax, (-0.1, top), (xf - r, top), **cell, head=False)
    _arrow(ax, (xf + r, top), (xm - r, top), **cell, head=False)
    _arrow(ax, (xm + r, top), (12.4, top), **cell)
    _text(ax, -0.2, top, "$c_{t-1}$", ha="right", fontsize=15, color=_CELL_STATE)
    _text(ax, 12.5, top, "$c_t$", ha="left", fontsize=15, color=_CELL_STATE)
    _text(
        ax,
        (xm + 11.4) / 2,
        top + 0.4,
        "cell state: only × and +, so gradients flow",
        fontsize=10.5,
        color=_CELL_STATE,
        fontweight="bold",
    )
    _op(ax, (xf, top), "×")
    _op(ax, (xm, top), "+")

    # the input: h_{t-1} from the left and x_t from below, joined into [h_{t-1}, x_t]
    _arrow(ax, (-0.1, bus), (xo, bus), head=False)
    _arrow(ax, (1.8, -0.5), (1.8, bus), head=False)
    ax.plot(1.8, bus, "o", color="black", markersize=5, zorder=2)
    _text(ax, -0.2, bus, "$h_{t-1}$", ha="right", fontsize=15)
    _text(ax, 1.8, -0.8, "$x_t$", fontsize=15)
    _text(ax, 2.0, 0.55, "$[h_{t-1}, x_t]$", ha="left", fontsize=12)

    # the four gates: learned layers (weights and bias, then σ or tanh)
    gates = [
        (xf, "$\\sigma$", "forget gate", _ATTN),
        (xi, "$\\sigma$", "input gate", _ATTN),
        (xg, "tanh", "candidate", _PROJ),
        (xo, "$\\sigma$", "output gate", _ATTN),
    ]
    for x, act, name, color in gates:
        _arrow(ax, (x, bus), (x, gate_y - gate_h / 2))
        _rect(ax, (x, gate_y), (gate_w, gate_h), color)
        _text(ax, x, gate_y + 0.17, act, fontsize=15)
        _text(ax, x, gate_y - 0.26, name, fontsize=10)

    # f_t scales the old cell state, and i_t ⊙ g_t is added to it
    _arrow(ax, (xf, gate_y + gate_h / 2), (xf, top - r))
    _text(ax, xf + 0.15, 3.9, "$f_t$", ha="left", fontsize=15)
    ym = 4.1
    _arrow(ax, (xi, gate_y + gate_h / 2), (xi, ym), (xm - r, ym))
    _arrow(ax, (xg, gate_y + gate_h / 2), (xg, ym), (xm + r, ym))
    _op(ax, (xm, ym), "×")
    _arrow(ax, (xm, ym + r), (xm, top - r))
    _text(ax, xi - 0.15, 3.25, "$i_t$", ha="right", fontsize=15)
    _text(ax, xg + 0.15, 3.25, "$g_t = \\tilde{c}_t$", ha="left", fontsize=15)
    _text(ax, xm + 0.15, 4.95, "$i_t \\odot g_t$", ha="left", fontsize=13)

    # h_t = o_t ⊙ tanh(c_t)
    yt, yh = 4.55, 3.0
    _arrow(ax, (xc, top), (xc, yt + 0.27), color=_CELL_STATE, lw=1.8)
    ax.add_patch(Ellipse((xc, yt), 1.1, 0.54, facecolor="white", edgecolor="black", lw=1.3))
    _text(ax, xc, yt, "tanh", fontsize=11, zorder=4)
    _arrow(ax, (xc, yt - 0.27), (xc, yh + r))
    _arrow(ax, (xo, gate_y + gate_h / 2), (xo, yh), (xc - r, yh))
    _text(ax, xo - 0.15, 2.75, "$o_t$", ha="right", fontsize=15)
    _op(ax, (xc, yh), "×")
    _arrow(ax, (xc, yh - r), (xc, 1.5), (12.4, 1.5))
    _text(ax, 12.5, 1.5, "$h_t$", ha="left", fontsize=15)

    # the equations, and a key to the shapes
    columns = [
        [
            "$f_t = \\sigma(W_f\\,[h_{t-1}, x_t] + b_f)$",
            "$i_t = \\sigma(W_i\\,[h_{t-1}, x_t] + b_i)$",
            "$g_t = \\tanh(W_g\\,[h_{t-1}, x_t] + b_g)$",
            "$o_t = \\sigma(W_o\\,[h_{t-1}, x_t] + b_o)$",
        ],
        ["$c_t = f_t \\odot c_{t-1} + i_t \\odot g_t$", "$h_t = o_t \\odot \\tanh(c_t)$"],
    ]
    for x, column in zip((-0.6, 6.3), columns, strict=True):
        for k, eq in enumerate(column):
            _text(ax, x, -1.55 - 0.6 * k, eq, ha="left", fontsize=13)
    key = [(_ATTN, "learned layer, then σ (a gate: 0 to 1)"), (_PROJ, "learned layer, then tanh")]
    for k, (color, label) in enumerate(key):
        _rect(ax, (6.6, -2.95 - 0.55 * k), (0.6, 0.4), color)
        _text(ax, 7.1, -2.95 - 0.55 * k, label, ha="left", fontsize=11)
    _op(ax, (6.6, -4.05), "×", r=0.2)
    _text(ax, 7.1, -4.05, "element-wise operation", ha="left", fontsize=11)
    ax.set_xlim(-1.4, 13.3)
    ax.set_ylim(-4.5, 6.8)
    return ax


def _check_bpe_steps(
    steps: Sequence[Sequence[str]], merges: Sequence[tuple[str, str]] | None
) -> list[list[str]]:
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
        raise TypeError(
            f"steps must be a list of lists of token strings, got {type(steps).__name__}"
        )
    if len(steps) == 0:
        raise ValueError("steps is empty: expected at least one list of tokens")
    rows: list[list[str]] = []
    for k, step in enumerate(steps):
        if isinstance(step, (str, bytes)) or not isinstance(step, Sequence):
            raise TypeError(f"steps[{k}] must be a list of token strings, got {step!r}")
        if len(step) == 0:
            raise ValueError(f"steps[{k}] is empty: expected at least one token")
        for j, token in enumerate(step):
            if not isinstance(token, str):
                raise TypeError(f"steps[{k}][{j}] must be a str, got {type(token).__name__}")
            if not token:
                raise ValueError(f"steps[{k}][{j}] is an empty string: tokens are never empty")
        rows.append(list(step))
    text = "".join(rows[0])
    for k, row in enumerate(rows[1:], start=1):
        if "".join(row) != text:
            raise ValueError(
                f"steps[{k}] joins to {''.join(row)!r} but steps[0] joins to {text!r}: every "
                "step must split the same text"
            )
        if not _bounds(row) <= _bounds(rows[k - 1]):
            raise ValueError(
                f"steps[{k}] = {row} is not made by merging neighbouring tokens of "
                f"steps[{k - 1}] = {rows[k - 1]}"
            )
    if merges is not None:
        if isinstance(merges, (str, bytes)) or not isinstance(merges, Sequence):
            raise TypeError(f"merges must be a list of pairs of str, got {type(merges).__name__}")
        if len(merges) != len(rows) - 1:
            raise ValueError(
                f"merges has {len(merges)} pairs for {len(rows)} steps: expected one merge "
                f"per step after the first ({len(rows) - 1})"
            )
        for k, pair in enumerate(merges):
            if (
                isinstance(pair, (str, bytes))
                or not isinstance(pair, Sequence)
                or len(pair) != 2
                or not all(isinstance(p, str) for p in pair)
            ):
                raise TypeError(
                    f"merges[{k}] must be a pair of str such as ('l', 'o'), got {pair!r}"
                )
            merged = _apply_merge(rows[k], pair[0], pair[1])
            if merged != rows[k + 1]:
                raise ValueError(
                    f"merges[{k}] = {tuple(pair)} turns steps[{k}] = {rows[k]} into {merged}, "
                    f"not into steps[{k + 1}] = {rows[k + 1]}"
                )
    return rows


def _bounds(tokens: Sequence[str]) -> set[int]:
    """The character offsets where one token ends and the next begins."""
    return set(np.cumsum([len(t) for t in tokens])[:-1].tolist())


def _apply_merge(tokens: Sequence[str], a: str, b: str) -> list[str]:
    """Merge every adjacent ``a b`` into ``ab``, left to right (as BPE applies a merge rule)."""
    out, i = [], 0
    while i < len(tokens):
        if i + 1 < len(tokens) and tokens[i] == a and tokens[i + 1] == b:
            out.append(a + b)
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return out


def bpe_merges_diagram(
    steps: Sequence[Sequence[str]],
    ax: Axes | None = None,
    *,
    merges: Sequence[tuple[str, str]] | None = None,
) -> Axes:
    """Byte-pair encoding at work: one row of token boxes per merge step, top to bottom.

    ``steps``: the tokens after each step, e.g. ``[["l", "o", "w"], ["lo", "w"], ["low"]]``;
    every step must split the same text, and each must come from the one before by merging
    neighbouring tokens. Each token is a box whose width is proportional to its length in
    characters, so a merged token sits exactly over the tokens it was made from; the boxes a
    step creates are highlighted (orange). ``merges``: optional, the pair merged at each step
    (one fewer than ``steps``), e.g. ``[("l", "o"), ("lo", "w")]``, shown as "merge 1: l + o
    → lo" beside the row (and checked against the rows). Spaces are drawn as ``␣``.

    Every patch is a token box: ``gid`` ``"token"``, or ``"new token"`` when highlighted.
    Raises ``TypeError`` for input of the wrong type and ``ValueError`` for empty or
    inconsistent steps.
    """
    rows = _check_bpe_steps(steps, merges)
    length = len("".join(rows[0]))

    def show(token: str) -> str:
        return token.replace(" ", "␣")

    labels = ["start"] + [
        f"merge {k}: {show(a)} + {show(b)} → {show(a + b)}" if merges is not None else f"step {k}"
        for k, (a, b) in enumerate(merges or [("", "")] * (len(rows) - 1), start=1)
    ]
    # 1 data unit = one character, about 0.45 inch (less for long texts)
    inch = min(0.45, 9.0 / length)
    fontsize = min(13.0, 13 * inch / 0.45)
    pitch = 1.5
    key = "orange: made by this step's merge" if len(rows) > 1 else ""
    label_w = 0.6 * 11 / 72 / inch * max(len(s) for s in labels)  # monospace 11 pt
    left = min(-label_w - 0.8, length - 0.6 * 10 / 72 / inch * len(key)) - 0.2
    x_lim = (left, length + 0.2)
    y_lim = (-pitch * (len(rows) - 1) - (1.2 if key else 0.75), 0.75)
    ax = _diagram_axes(ax, (inch * (x_lim[1] - x_lim[0]) + 0.1, inch * (y_lim[1] - y_lim[0]) + 0.1))
    for r, row in enumerate(rows):
        y = -pitch * r
        old = set(_spans(rows[r - 1])) if r else set()
        for (start, end), token in zip(_spans(row), row, strict=True):
            new = r > 0 and (start, end) not in old
            _rect(
                ax,
                ((start + end) / 2, y),
                (end - start - 0.12, 1.0),
                _ATTN if new else _INPUT,
                edge=_HIGHLIGHT_EDGE if new else _EDGE,
                lw=2.0 if new else 1.0,
                round_=0.06,
                gid="new token" if new else "token",
            )
            _text(ax, (start + end) / 2, y, show(token), fontsize=fontsize, **_MONO)
        _text(ax, -0.5, y, labels[r], ha="right", fontsize=11, **_MONO)
    _text(ax, length, y_lim[0] + 0.1, key, ha="right", va="bottom", fontsize=10, **_MONO)
    ax.set_xlim(*x_lim)
    ax.set_ylim(*y_lim)
    return ax


def _spans(tokens: Sequence[str]) -> list[tuple[int, int]]:
    ends = np.cumsum([len(t) for t in tokens]).tolist()
    return [(end - len(t), end) for t, end in zip(tokens, ends, strict=True)]


def _check_dims(max_dim: int, **dims: int) -> None:
    for name, value in dims.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if not 1 <= value <= max_dim:
            raise ValueError(
                f"{name} must be between 1 and {max_dim} (the boxes are drawn to scale), "
                f"got {value}"
            )


def _fit(name: str, fontsize: float, width: float, scale: float) -> float | None:
    """The font size (at most ``fontsize``, at least 7 pt) at which ``name`` fits across
    ``width`` data units, drawn at ``scale`` inch per unit; ``None`` if it does not fit."""
    chars = len(re.sub(r"\\[a-z]+|[${}^_\\ ]", "", name)) or 1  # visible characters, roughly
    size = min(fontsize, (width * scale - 0.08) * 72 / (0.62 * chars))
    return size if size >= 7 else None


def _matrix(
    ax: Axes,
    center: tuple[float, float],
    rows: int,
    cols: int,
    unit: float | tuple[float, float],
    color: str,
    name: str,
    shape: str,
    *,
    name_size: float = 13,
    scale: float = 0.55,
    outside: str = "above",
) -> None:
    """A ``rows × cols`` matrix drawn to scale: ``unit`` data units per entry (or the (width,
    height) of an entry), faint lines between entries, its ``name`` inside (smaller if need be;
    ``outside`` it, "above" or "right", if it cannot fit) and its ``shape`` under it."""
    x, y = center
    uw, uh = unit if isinstance(unit, tuple) else (unit, unit)
    w, h = cols * uw, rows * uh
    ax.add_patch(
        plt.Rectangle((x - w / 2, y - h / 2), w, h, facecolor=color, edgecolor=_EDGE, lw=1.2)
    )
    for i in range(1, rows):
        ax.plot([x - w / 2, x + w / 2], [y - h / 2 + i * uh] * 2, color="0.72", lw=0.5)
    for j in range(1, cols):
        ax.plot([x - w / 2 + j * uw] * 2, [y - h / 2, y + h / 2], color="0.72", lw=0.5)
    size = _fit(name, name_size, w, scale)
    if size is not None:
        box = {"boxstyle": "square,pad=0.1", "facecolor": color, "edgecolor": "none"}
        _text(ax, x, y, name, fontsize=size, bbox=box, zorder=3)
    elif outside == "above":
        _text(ax, x, y + h / 2 + 0.08, name, va="bottom", fontsize=name_size)
    else:
        _text(ax, x + w / 2 + 0.12, y, name, ha="left", fontsize=name_size)
    _text(ax, x, y - h / 2 - 0.08, shape, va="top", fontsize=10)


def _op_box(
    ax: Axes, center: tuple[float, float], text: str, width: float, fontsize: float = 11
) -> None:
    """An operation without parameters (a product, a softmax): a grey rounded box."""
    _rect(ax, center, (width, 0.66), _OP, round_=0.1)
    _text(ax, *center, text, fontsize=fontsize, zorder=3)


def qkv_diagram(ax: Axes | None = None, n: int = 4, d_model: int = 6, d_k: int = 3) -> Axes:
    r"""Single-head self-attention as matrix products, every matrix drawn to scale with its shape.

    The input ``X`` (``n × d_model``: one row per token) is multiplied by the learned weights
    ``W_Q``, ``W_K``, ``W_V`` (``d_model × d_k``) giving ``Q``, ``K``, ``V`` (``n × d_k``).
    Then ``scores = Q Kᵀ / √d_k`` (``n × n``: row ``i`` says how well query ``i`` matches each
    key), ``weights = softmax(scores)`` row by row (each row sums to 1), and
    ``output = weights · V`` (``n × d_k``: for each token, a weighted average of the values).
    ``n``, ``d_model`` and ``d_k`` (ints, 1 to 12) set the drawn sizes; the defaults keep all
    three different, so that which axis is which can be read off the picture.

    Colours: blue activations, purple learned weights, green projections, orange attention,
    grey operations (no parameters).
    """
    _check_dims(12, n=n, d_model=d_model, d_k=d_k)
    scale = 0.55  # inch per data unit
    u = min(0.35, 2.8 / max(n, d_model, d_k))  # data units per matrix entry
    tallest = max(n, d_model) * u
    pitch = tallest + 1.2  # between the Q, K and V rows
    yq, yk, yv = pitch, 0.0, -pitch
    wx, ww, wn = d_model * u, d_k * u, n * u  # drawn widths of X, of W/Q/K/V, of n columns
    op_w = 2.0  # the width of the box "Q Kᵀ / √d_k"

    def slot(width: float, shape: str) -> float:
        """Room for a box and the shape written under it (10 pt)."""
        return max(width, 0.15 * len(shape) + 0.1)

    s_x, s_w, s_p = slot(wx, "n × d_model"), slot(ww, "d_model × d_k"), slot(ww, "n × d_k")
    s_kt, s_s = max(slot(wn, "d_k × n"), op_w), slot(wn, "n × n")
    x_x = s_x / 2
    fork = s_x + 0.1  # where X's arrows part
    x_w = fork + 1.2 + s_w / 2
    x_p = x_w + s_w / 2 + 0.7 + s_p / 2
    x_kt = x_p + s_p / 2 + 1.5 + s_kt / 2
    x_s = x_kt + s_kt / 2 + 0.5 + s_s / 2
    x_sm = x_s + s_s / 2 + 0.4 + 0.95
    x_a = x_sm + 0.95 + 0.4 + s_s / 2
    x_o = x_a + 1.0 + 0.5 + s_p / 2
    # the column titles go above everything in the top row, names written above boxes included
    above = 13 / 72 / scale + 0.15  # the height of a name written above a box
    tops = [yq + max(wx, d_model * u) / 2, yq + n * u / 2 + 0.25 + above, yq + 0.33]
    tops += [yq + d_model * u / 2 + (above if _fit("$W_Q$", 13, ww, scale) is None else 0)]
    for name in ("scores", "weights"):
        tops += [yq + wn / 2 + (above if _fit(name, 11, wn, scale) is None else 0)]
    header = max(tops) + 0.15
    x_lim = (-0.3, x_o + s_p / 2 + 0.3)
    y_lim = (yv - tallest / 2 - 1.0, header + 0.8)
    ax = _diagram_axes(ax, (scale * (x_lim[1] - x_lim[0]), scale * (y_lim[1] - y_lim[0])))

    # the projections: Q = X W_Q, K = X W_K, V = X W_V
    _matrix(ax, (x_x, yk), n, d_model, u, _INPUT, "X", "n × d_model", scale=scale)
    if fork > x_x + wx / 2:
        _arrow(ax, (x_x + wx / 2, yk), (fork, yk), head=False)
    for y, name in ((yq, "Q"), (yk, "K"), (yv, "V")):
        _arrow(ax, (fork, yk), (x_w - ww / 2 - 0.08, y))
        _matrix(ax, (x_w, y), d_model, d_k, u, _WEIGHT, f"$W_{name}$", "d_model × d_k", scale=scale)
        _arrow(ax, (x_w + ww / 2 + 0.08, y), (x_p - ww / 2 - 0.08, y))
        _matrix(ax, (x_p, y), n, d_k, u, _PROJ, name, "n × d_k", scale=scale)
        _text(ax, x_p, y + n * u / 2 + 0.25, f"$X W_{name}$", fontsize=11)
    for title, x in (("input", x_x), ("learned\nweights", x_w), ("projections", x_p)):
        _text(ax, x, header, title, va="bottom", fontsize=11, fontweight="bold")

    # scores = Q Kᵀ / √d_k, a softmax on each row, then weights · V
    _arrow(ax, (x_p + ww / 2 + 0.08, yk), (x_kt - wn / 2 - 0.08, yk))
    _text(ax, (x_p + ww / 2 + x_kt - wn / 2) / 2, yk + 0.25, "transpose", fontsize=10)
    _matrix(ax, (x_kt, yk), d_k, n, u, _PROJ, "$K^T$", "d_k × n", scale=scale, outside="right")
    _op_box(ax, (x_kt, yq), "$Q K^T / \\sqrt{d_k}$", op_w)
    _arrow(ax, (x_p + ww / 2 + 0.08, yq), (x_kt - op_w / 2, yq))
    _arrow(ax, (x_kt, yk + d_k * u / 2 + 0.08), (x_kt, yq - 0.33))
    _arrow(ax, (x_kt + op_w / 2, yq), (x_s - wn / 2 - 0.08, yq))
    _matrix(ax, (x_s, yq), n, n, u, _ATTN, "scores", "n × n", name_size=11, scale=scale)
    _op_box(ax, (x_sm, yq), "softmax\nof each row", 1.9, fontsize=10)
    _arrow(ax, (x_s + wn / 2 + 0.08, yq), (x_sm - 0.95, yq))
    _arrow(ax, (x_sm + 0.95, yq), (x_a - wn / 2 - 0.08, yq))
    _matrix(ax, (x_a, yq), n, n, u, _ATTN, "weights", "n × n", name_size=11, scale=scale)
    _op_box(ax, (x_a, yv), "weights · V", 2.0)
    _arrow(ax, (x_a, yq - wn / 2 - 0.45), (x_a, yv + 0.33))
    _arrow(ax, (x_p + ww / 2 + 0.08, yv), (x_a - 1.0, yv))
    _arrow(ax, (x_a + 1.0, yv), (x_o - ww / 2 - 0.08, yv))
    _matrix(ax, (x_o, yv), n, d_k, u, _INPUT, "output", "n × d_k", name_size=11, scale=scale)
    _text(ax, (x_s + x_a) / 2, header, "attention", va="bottom", fontsize=11, fontweight="bold")
    _text(
        ax,
        x_lim[0] + 0.1,
        y_lim[0] + 0.25,
        f"drawn to scale: n = {n} tokens, d_model = {d_model}, d_k = {d_k}",
        ha="left",
        fontsize=10,
        color="0.25",
    )
    ax.set_xlim(*x_lim)
    ax.set_ylim(*y_lim)
    return ax


def _striped(
    ax: Axes,
    center: tuple[float, float],
    size: tuple[float, float],
    colors: Sequence[str],
) -> None:
    """A box cut along its width into equal vertical strips, one colour each (one per head)."""
    (x, y), (w, h) = center, size
    k = len(colors)
    for j, color in enumerate(colors):
        left = x - w / 2 + j * w / k
        ax.add_patch(
            plt.Rectangle((left, y - h / 2), w / k, h, facecolor=color, edgecolor=_EDGE, lw=0.8)
        )
    ax.add_patch(plt.Rectangle((x - w / 2, y - h / 2), w, h, fill=False, edgecolor=_EDGE, lw=1.4))


def _fat_arrow(ax: Axes, a: tuple[float, float], b: tuple[float, float]) -> None:
    ax.add_patch(
        FancyArrowPatch(
            a,
            b,
            arrowstyle="simple,head_width=1.6,head_length=1.0,tail_width=0.7",
            mutation_scale=18,
            facecolor="0.72",
            edgecolor="none",
            zorder=1,
        )
    )


def multihead_diagram(ax: Axes | None = None, num_heads: int = 4) -> Axes:
    r"""Multi-head attention: how the heads are split off, run, and merged back.

    ``Q``, ``K``, ``V`` (each ``n × d_model``, already projected) are cut along the feature axis
    into ``h = num_heads`` slices of ``d_k = d_model / h`` columns: a reshape
    ``(batch, seq, d_model) → (batch, heads, seq, d_k)``, no new parameters. Each head ``i`` runs
    attention on its own slices, ``head_i = softmax(Q_i K_iᵀ / √d_k) V_i`` (``n × d_k``); the
    heads' outputs are concatenated back to ``n × d_model`` and multiplied by ``W_O``
    (``d_model × d_model``). One colour per head, from the slices to the concatenation.
    ``num_heads``: an int, 1 to 8.
    """
    _check_dims(len(_HEAD_COLORS), num_heads=num_heads)
    h = num_heads
    colors = _HEAD_COLORS[:h]
    wide, tall = 2.4, 1.1  # the drawn d_model and n
    slim = wide / h  # the drawn d_k
    pitch = min(1.5, 6.0 / h)  # between the heads' rows
    row_h = min(tall, 0.7 * pitch)
    ys = [(h - 1) / 2 * pitch - i * pitch for i in range(h)]
    top = max(ys[0] + row_h / 2, 2.0 + tall / 2)  # of the boxes
    bottom = min(ys[-1] - row_h / 2, -2.0 - tall / 2 - 0.4)  # of the boxes and their shapes
    gap, arrow_w = (
        max(0.2, 0.75 - slim),
        2.0,
    )  # between Q_i, K_i, V_i; the length of the split and merge arrows
    x_in = 0.5 + wide / 2
    x0 = x_in + wide / 2 + 0.3  # the split arrow
    x_q = x0 + arrow_w + 1.5 + slim / 2  # (leaving room for "head i")
    xs = [x_q + k * (slim + gap) for k in range(3)]
    x_att = xs[-1] + slim / 2 + 0.45 + 1.0
    x_head = x_att + 1.0 + 0.45 + slim / 2
    x2 = x_head + slim / 2 + 0.3  # the merge arrow
    x_cat = x2 + arrow_w + 0.2 + wide / 2
    x_wo = x_cat + wide + 0.9
    x_out = x_wo + wide + 0.7
    x_lim = (-0.3, x_out + wide / 2 + 0.2)
    y_lim = (bottom - 1.85, top + 1.85)
    scale = 0.45  # inch per data unit
    ax = _diagram_axes(ax, (scale * (x_lim[1] - x_lim[0]), scale * (y_lim[1] - y_lim[0])))
    below = bottom - 0.2  # the top of the labels under the picture

    # Q, K, V, each cut along the feature axis into h slices, one per head
    for y, name in ((2.0, "Q"), (0.0, "K"), (-2.0, "V")):
        _striped(ax, (x_in, y), (wide, tall), colors)
        _text(ax, x_in - wide / 2 - 0.15, y, name, ha="right", fontsize=15)
        _text(ax, x_in, y - tall / 2 - 0.08, "n × d_model", va="top", fontsize=10)
    heads = f"h = {h} head" + ("s" if h > 1 else "") + f"\nd_k = d_model / {h}"
    _text(ax, x_in, top + 0.2, heads, va="bottom", fontsize=11, fontweight="bold")
    _fat_arrow(ax, (x0, 0), (x0 + arrow_w, 0))
    _text(ax, x0 + arrow_w / 2, -0.5, "split", va="top", fontsize=11, fontweight="bold")
    _text(
        ax,
        x0 + arrow_w / 2,
        below,
        "split, a reshape:\n(batch, seq, d_model)\n→ (batch, heads, seq, d_k)",
        va="top",
        fontsize=10,
    )

    # each head: Q_i, K_i, V_i → attention → head_i
    def slice_box(x: float, y: float, color: str) -> None:
        patch = plt.Rectangle((x - slim / 2, y - row_h / 2), slim, row_h, facecolor=color)
        patch.set_edgecolor(_EDGE)
        ax.add_patch(patch)

    for i, (y, color) in enumerate(zip(ys, colors, strict=True)):
        _text(ax, x_q - slim / 2 - 0.15, y, f"head {i + 1}", ha="right", fontsize=10)
        for x in xs:
            slice_box(x, y, color)
        _arrow(ax, (xs[-1] + slim / 2 + 0.08, y), (x_att - 1.0, y))
        _op_box(ax, (x_att, y), "attention", 2.0, fontsize=10.5)
        _arrow(ax, (x_att + 1.0, y), (x_head - slim / 2 - 0.08, y))
        slice_box(x_head, y, color)
    for x, name in zip(xs, ("$Q_i$", "$K_i$", "$V_i$"), strict=True):
        _text(ax, x, top + 0.2, name, va="bottom", fontsize=13)
    _text(ax, x_head, top + 0.2, "$\\mathrm{head}_i$", va="bottom", fontsize=13)
    _text(ax, xs[1], top + 0.75, "n × d_k each", va="bottom", fontsize=10)
    _text(ax, x_head, top + 0.75, "n × d_k", va="bottom", fontsize=10)
    _text(
        ax,
        x_att,
        top + 1.25,
        "$\\mathrm{head}_i = \\mathrm{softmax}(Q_i K_i^T / \\sqrt{d_k})\\,V_i$",
        va="bottom",
        fontsize=12,
    )

    # concatenate (the reshape undone), then W_O
    _fat_arrow(ax, (x2, 0), (x2 + arrow_w, 0))
    _text(ax, x2 + arrow_w / 2, -0.5, "concat", va="top", fontsize=11, fontweight="bold")
    _text(
        ax,
        x2 + arrow_w / 2,
        below,
        "concatenate, a reshape:\n(batch, heads, seq, d_k)\n→ (batch, seq, d_model)",
        va="top",
        fontsize=10,
    )
    _striped(ax, (x_cat, 0), (wide, tall), colors)
    concat = "$\\mathrm{Concat}(\\mathrm{head}_1, \\ldots, \\mathrm{head}_h)$"
    _text(ax, x_cat, tall / 2 + 0.1, concat, va="bottom", fontsize=10.5)
    _text(ax, x_cat, -tall / 2 - 0.08, "n × d_model", va="top", fontsize=10)
    _arrow(ax, (x_cat + wide / 2 + 0.08, 0), (x_wo - wide / 2 - 0.08, 0))
    _matrix(ax, (x_wo, 0), 1, 1, wide, _WEIGHT, "$W_O$", "d_model × d_model", scale=scale)
    _arrow(ax, (x_wo + wide / 2 + 0.08, 0), (x_out - wide / 2 - 0.08, 0))
    _matrix(
        ax,
        (x_out, 0),
        1,
        1,
        (wide, tall),
        _INPUT,
        "output",
        "n × d_model",
        name_size=12,
        scale=scale,
    )
    ax.set_xlim(*x_lim)
    ax.set_ylim(*y_lim)
    return ax
