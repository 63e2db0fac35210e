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
