import matplotlib

matplotlib.use("Agg")

from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Rectangle

from utils import plots


def test_lines():
    ax = plots.lines(
        [1, 2, 4],
        {"a": [1, 2, 3], "b": [3, 2, 1]},
        logx=True,
        logy=True,
        hline=(0.5, "chance"),
        title="t",
    )
    assert len(ax.get_lines()) == 3 and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="2 values for 3"):
        plots.lines([1, 2, 3], {"a": [1, 2]})
    plt.close("all")


def test_timeline_and_unrolled_rnn():
    ax = plots.timeline([(1997, "LSTM"), (2017, "Transformer")])
    assert any("LSTM" in t.get_text() for t in ax.texts)
    with pytest.raises(ValueError):
        plots.timeline([])
    ax = plots.unrolled_rnn(3, cell="RNN")
    assert sum(t.get_text() == "RNN" for t in ax.texts) == 3
    with pytest.raises(ValueError):
        plots.unrolled_rnn(0)
    plt.close("all")


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_diagram(norm_first):
    ax = plots.transformer_diagram(norm_first=norm_first)
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("cross-attention") == 1 and "memory (keys and values)" in texts
    assert texts.count("Norm" if norm_first else "Add & Norm") == 5  # 2 encoder + 3 decoder
    assert texts.count("⊕") == (5 if norm_first else 0)  # pre-LN's residual sums
    assert len(ax.lines) == 5  # one residual path beside each sub-layer
    plt.close("all")


def test_heatmap():
    ax = plots.heatmap(
        [[1.0, 0.25], [0.5, 0.0]],
        xlabels=["a", "b"],
        ylabels=["c", "d"],
        annotate=True,
        colorbar=True,
        title="t",
    )
    assert [t.get_text() for t in ax.texts] == ["1.00", "0.25", "0.50", "0.00"]
    assert ax.images[0].get_array().shape == (2, 2)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match="2-D"):
        plots.heatmap([1, 2, 3])
    with pytest.raises(ValueError, match="xlabels has 1 labels for 2"):
        plots.heatmap([[1, 2]], xlabels=["a"])
    plt.close("all")


def test_bert_inputs():
    tokens = ["[CLS]", "my", "dog", "[SEP]", "it", "##s", "[SEP]"]
    ax = plots.bert_inputs(tokens, [0, 0, 0, 0, 1, 1, 1])
    texts = [t.get_text() for t in ax.texts]
    assert all(t in texts for t in tokens)
    assert texts.count("$E_A$") == 4 and texts.count("$E_B$") == 3 and "$E_{6}$" in texts
    ax.figure.canvas.draw()  # the math text must render
    with pytest.raises(ValueError, match="7 tokens but 2"):
        plots.bert_inputs(tokens, [0, 1])
    plt.close("all")


# --- the block diagrams ------------------------------------------------------------------------

LOWER_STEPS = [["l", "o", "w", "e", "r"], ["lo", "w", "e", "r"], ["low", "e", "r"], ["low", "er"]]
LOWER_STEPS.append(["lower"])
LOWER_MERGES = [("l", "o"), ("lo", "w"), ("e", "r"), ("low", "er")]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def _box_at(ax, text):
    """The smallest rectangle that holds the text ``text`` (a matrix and its name)."""
    (x, y) = next(t.get_position() for t in ax.texts if t.get_text() == text)
    boxes = [
        p
        for p in ax.patches
        if isinstance(p, Rectangle)
        and p.get_x() <= x <= p.get_x() + p.get_width()
        and p.get_y() <= y <= p.get_y() + p.get_height()
    ]
    return min(boxes, key=lambda p: p.get_width() * p.get_height())


@pytest.mark.parametrize(
    "draw",
    [
        plots.lstm_cell_diagram,
        lambda ax: plots.bpe_merges_diagram(LOWER_STEPS, ax, merges=LOWER_MERGES),
        plots.qkv_diagram,
        plots.multihead_diagram,
    ],
    ids=["lstm", "bpe", "qkv", "multihead"],
)
def test_diagrams_are_opaque_and_draw_on_a_given_axes(draw):
    fig, ax = plt.subplots()
    assert draw(ax) is ax
    white = (1.0, 1.0, 1.0, 1.0)
    assert fig.get_facecolor() == white and ax.get_facecolor() == white
    assert all(p.get_facecolor()[3] == 1.0 for p in ax.patches if p.get_fill())
    assert all(p.get_alpha() in (None, 1.0) for p in ax.patches)
    assert all(t.get_alpha() in (None, 1.0) for t in ax.texts)
    fig.canvas.draw()  # the math text must render
    ax = draw(None)  # a figure of its own
    assert ax.figure is not fig and ax.figure.get_facecolor() == white


def test_lstm_cell_diagram():
    ax = plots.lstm_cell_diagram()
    texts = _texts(ax)
    joined = " ".join(texts)
    for label in ("c_{t-1}", "$c_t$", "h_{t-1}", "$h_t$", "$x_t$", "$f_t$", "$i_t$", "$o_t$"):
        assert label in texts or label in joined, label
    assert "$g_t = \\tilde{c}_t$" in texts
    # the gates: three σ and the tanh candidate, each named; tanh(c_t) is a point-wise op
    assert texts.count("$\\sigma$") == 3 and texts.count("tanh") == 2
    for name in ("forget gate", "input gate", "candidate", "output gate"):
        assert name in texts
    assert texts.count("+") == 1 and texts.count("×") == 4  # 3 in the cell, 1 in the key
    assert any("W_f" in t and "b_f" in t and "\\sigma" in t for t in texts)  # f_t's equation
    assert any("c_t = f_t \\odot c_{t-1} + i_t \\odot g_t" in t for t in texts)
    assert any("cell state" in t for t in texts)
    # the cell-state line stands out: the thickest lines in the picture
    widths = [p.get_linewidth() for p in ax.patches] + [line.get_linewidth() for line in ax.lines]
    thick = [p for p in ax.patches if p.get_linewidth() == max(widths)]
    assert len(thick) == 3  # c_{t-1} → ×, × → +, + → c_t


def test_bpe_merges_diagram():
    ax = plots.bpe_merges_diagram(LOWER_STEPS, merges=LOWER_MERGES)
    boxes = ax.patches
    assert len(boxes) == sum(len(step) for step in LOWER_STEPS)  # one box per token
    rows = sorted({round(p.get_y(), 6) for p in boxes}, reverse=True)
    assert len(rows) == len(LOWER_STEPS)  # one row per step, in order top to bottom
    at = {tuple(np.round(t.get_position(), 6)): t.get_text() for t in ax.texts}

    def token(p):
        return at[
            (round(p.get_x() + p.get_width() / 2, 6), round(p.get_y() + p.get_height() / 2, 6))
        ]

    for y, step in zip(rows, LOWER_STEPS, strict=True):
        row = sorted((p for p in boxes if round(p.get_y(), 6) == y), key=lambda p: p.get_x())
        assert [token(p) for p in row] == step
    # the box each merge made is highlighted, and only that one
    new = sorted((p for p in boxes if p.get_gid() == "new token"), key=lambda p: -p.get_y())
    assert [token(p) for p in new] == ["lo", "low", "er", "lower"]
    assert new[0].get_facecolor() != boxes[0].get_facecolor()
    # widths in proportion to the number of characters
    width = {token(p): p.get_width() for p in boxes}
    assert width["l"] == pytest.approx(width["r"])
    assert width["l"] < width["lo"] < width["low"] < width["lower"]
    assert width["er"] == pytest.approx(width["lo"])
    texts = _texts(ax)
    assert (
        "start" in texts and "merge 1: l + o → lo" in texts and "merge 4: low + er → lower" in texts
    )
    # without merges the rows are numbered; a merge may apply in several places; spaces show
    steps = [list("lo lo"), ["lo", " ", "lo"]]
    ax = plots.bpe_merges_diagram(steps)
    assert "step 1" in _texts(ax) and "␣" in _texts(ax)
    assert sum(p.get_gid() == "new token" for p in ax.patches) == 2
    ax = plots.bpe_merges_diagram([["$", "x", "$"], ["$x", "$"]])  # no math text
    ax.figure.canvas.draw()
    assert "$x" in _texts(ax)


@pytest.mark.parametrize(
    ("steps", "merges", "error", "match"),
    [
        ("lower", None, TypeError, "list of lists"),
        (["lower"], None, TypeError, r"steps\[0\] must be a list"),
        ([["l", 1]], None, TypeError, r"steps\[0\]\[1\] must be a str, got int"),
        ([], None, ValueError, "steps is empty"),
        ([["l", "o"], []], None, ValueError, r"steps\[1\] is empty"),
        ([["l", ""]], None, ValueError, "empty string"),
        ([["l", "o"], ["lx"]], None, ValueError, "joins to 'lx' but steps\\[0\\] joins to 'lo'"),
        ([["lo", "w"], ["l", "ow"]], None, ValueError, "not made by merging"),
        ([["l", "o"], ["lo"]], [("l", "o"), ("o", "w")], ValueError, "2 pairs for 2 steps"),
        ([["l", "o"], ["lo"]], [("l",)], TypeError, r"merges\[0\] must be a pair"),
        ([["l", "o"], ["lo"]], "lo", TypeError, "merges must be a list"),
        ([["l", "o", "w"], ["lo", "w"]], [("o", "w")], ValueError, r"turns steps\[0\]"),
    ],
)
def test_bpe_merges_diagram_bad_input(steps, merges, error, match):
    with pytest.raises(error, match=match):
        plots.bpe_merges_diagram(steps, merges=merges)


@pytest.mark.parametrize(("n", "d_model", "d_k"), [(4, 6, 3), (5, 10, 4)])
def test_qkv_diagram(n, d_model, d_k):
    ax = plots.qkv_diagram(n=n, d_model=d_model, d_k=d_k)
    texts = _texts(ax)
    for name in ("X", "Q", "K", "V", "$W_Q$", "$W_K$", "$W_V$", "$K^T$", "scores", "weights"):
        assert name in texts, name
    assert "output" in texts and "$Q K^T / \\sqrt{d_k}$" in texts
    assert any("softmax" in t and "row" in t for t in texts) and "weights · V" in texts
    assert texts.count("n × d_model") == 1 and texts.count("d_model × d_k") == 3
    assert texts.count("n × d_k") == 4 and texts.count("n × n") == 2 and "d_k × n" in texts
    # every matrix drawn to scale: one unit per entry, (rows, columns) as its shape says
    unit = _box_at(ax, "X").get_width() / d_model
    shapes = {
        "X": (n, d_model),
        "$W_Q$": (d_model, d_k),
        "Q": (n, d_k),
        "$K^T$": (d_k, n),
        "scores": (n, n),
        "weights": (n, n),
        "output": (n, d_k),
    }
    for name, (rows, cols) in shapes.items():
        box = _box_at(ax, name)
        assert (box.get_height(), box.get_width()) == pytest.approx((rows * unit, cols * unit))


def test_qkv_diagram_bad_input():
    with pytest.raises(ValueError, match=r"n must be between 1 and 12.*got 0"):
        plots.qkv_diagram(n=0)
    with pytest.raises(ValueError, match="d_k must be between"):
        plots.qkv_diagram(d_k=13)
    with pytest.raises(TypeError, match="d_model must be an int, got float"):
        plots.qkv_diagram(d_model=6.0)
    with pytest.raises(TypeError, match="got bool"):
        plots.qkv_diagram(n=True)


@pytest.mark.parametrize("num_heads", [1, 4, 8])
def test_multihead_diagram(num_heads):
    ax = plots.multihead_diagram(num_heads=num_heads)
    texts = _texts(ax)
    split = [t for t in texts if "(batch, seq, d_model)\n→ (batch, heads, seq, d_k)" in t]
    merge = [t for t in texts if "(batch, heads, seq, d_k)\n→ (batch, seq, d_model)" in t]
    assert len(split) == 1 and len(merge) == 1
    assert [f"head {i + 1}" for i in range(num_heads)] == [
        t for t in texts if t.startswith("head ")
    ]
    assert texts.count("attention") == num_heads
    assert texts.count("n × d_model") == 5  # Q, K, V, the concatenation, the output
    assert "n × d_k each" in texts and "d_model × d_model" in texts and "$W_O$" in texts
    assert any(f"d_k = d_model / {num_heads}" in t for t in texts)
    # one colour per head: its slice of Q, K and V, its Q_i, K_i, V_i, head_i, its concat slice
    colors = Counter(
        p.get_facecolor() for p in ax.patches if isinstance(p, Rectangle) and p.get_fill()
    )
    per_head = [c for c, count in colors.items() if count == 8]
    assert len(per_head) == num_heads


def test_multihead_diagram_bad_input():
    with pytest.raises(ValueError, match="num_heads must be between 1 and 8"):
        plots.multihead_diagram(num_heads=0)
    with pytest.raises(ValueError, match="got 9"):
        plots.multihead_diagram(num_heads=9)
    with pytest.raises(TypeError, match="num_heads must be an int, got str"):
        plots.multihead_diagram(num_heads="4")
