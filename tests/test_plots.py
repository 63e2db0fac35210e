import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

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
