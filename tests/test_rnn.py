"""utils.rnn: our cells and layers equal PyTorch's, and say clearly what they expect."""

import pytest
import torch
from torch import nn

from utils import rnn

B, T, D, H = 3, 7, 5, 4


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _copy_cell(ours, theirs):
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ours, name).copy_(getattr(theirs, name))
    return ours


def test_rnn_cell_matches_torch():
    theirs = nn.RNNCell(D, H)
    ours = _copy_cell(rnn.RNNCell(D, H), theirs)
    x, h = torch.randn(B, D), torch.randn(B, H)
    torch.testing.assert_close(ours(x, h), theirs(x, h))
    torch.testing.assert_close(ours(x), theirs(x))  # zero initial state


def test_lstm_cell_matches_torch():
    theirs = nn.LSTMCell(D, H)
    ours = _copy_cell(rnn.LSTMCell(D, H), theirs)
    x, h, c = torch.randn(B, D), torch.randn(B, H), torch.randn(B, H)
    for a, b in zip(ours(x, (h, c)), theirs(x, (h, c)), strict=True):
        torch.testing.assert_close(a, b)
    for a, b in zip(ours(x), theirs(x), strict=True):
        torch.testing.assert_close(a, b)


def test_rnn_layer_matches_torch_outputs_and_gradients():
    theirs = nn.RNN(D, H, batch_first=True)
    ours = rnn.RNN.from_torch(theirs)
    x = torch.randn(B, T, D)
    h0 = torch.randn(B, H)
    out_ours, h_ours = ours(x, h0)
    out_theirs, h_theirs = theirs(x, h0.unsqueeze(0))
    torch.testing.assert_close(out_ours, out_theirs)
    torch.testing.assert_close(h_ours, h_theirs[0])
    out_ours.sum().backward()
    out_theirs.sum().backward()
    torch.testing.assert_close(ours.cell.weight_hh.grad, theirs.weight_hh_l0.grad)


def test_lstm_layer_matches_torch_outputs_and_gradients():
    theirs = nn.LSTM(D, H, batch_first=True)
    ours = rnn.LSTM.from_torch(theirs)
    x = torch.randn(B, T, D)
    out_ours, (h_ours, c_ours) = ours(x)
    out_theirs, (h_theirs, c_theirs) = theirs(x)
    torch.testing.assert_close(out_ours, out_theirs)
    torch.testing.assert_close(h_ours, h_theirs[0])
    torch.testing.assert_close(c_ours, c_theirs[0])
    out_ours.pow(2).sum().backward()
    out_theirs.pow(2).sum().backward()
    torch.testing.assert_close(ours.cell.weight_ih.grad, theirs.weight_ih_l0.grad)
    torch.testing.assert_close(ours.cell.bias_hh.grad, theirs.bias_hh_l0.grad)


def test_default_initialisation_is_pytorchs():
    """Every parameter uniform in ±1/sqrt(hidden): inside the bound, and filling it (zeros, or a
    narrower or normal initialisation, would fail)."""
    cell = rnn.LSTMCell(D, 16)
    bound = 1 / 16**0.5
    assert cell.weight_ih.shape == (64, D) and cell.weight_hh.shape == (64, 16)
    values = torch.cat([p.detach().flatten() for p in cell.parameters()])  # 2,432 values
    assert values.abs().max() <= bound
    assert values.max() > 0.95 * bound and values.min() < -0.95 * bound
    # uniform on [-b, b]: standard deviation b / sqrt(3), a quarter of the values beyond b / 2
    assert values.std().item() == pytest.approx(bound / 3**0.5, rel=0.05)
    assert (values.abs() > bound / 2).float().mean().item() == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (
            torch.randn(B, D + 1),
            ValueError,
            r"x must be \(batch, input_size=5\), got shape \(3, 6\)",
        ),
        ([1.0] * D, TypeError, r"x must be a tensor \(batch, input_size=5\), got list"),
    ],
)
def test_cells_name_the_expected_shape(bad, error, match):
    with pytest.raises(error, match=match):
        rnn.RNNCell(D, H)(bad)
    with pytest.raises(error, match=match):
        rnn.LSTMCell(D, H)(bad)


def test_layers_want_three_dimensions():
    with pytest.raises(
        ValueError, match=r"x must be \(batch, seq, input_size=5\), got shape \(7, 5\)"
    ):
        rnn.LSTM(D, H)(torch.randn(T, D))
    with pytest.raises(ValueError, match=r"got shape \(3, 7, 6\)"):
        rnn.RNN(D, H)(torch.randn(B, T, D + 1))


@pytest.mark.parametrize(
    ("size", "error"), [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_bad_sizes(size, error):
    with pytest.raises(error, match="input_size must be a positive int"):
        rnn.RNNCell(size, H)
    with pytest.raises(error, match="hidden_size must be a positive int"):
        rnn.LSTM(D, size)


def test_from_torch_refuses_what_it_cannot_copy():
    with pytest.raises(TypeError, match=r"nn\.RNN"):
        rnn.RNN.from_torch(nn.LSTM(D, H, batch_first=True))
    with pytest.raises(ValueError, match="batch_first"):
        rnn.RNN.from_torch(nn.RNN(D, H))
    with pytest.raises(ValueError, match="1-layer"):
        rnn.LSTM.from_torch(nn.LSTM(D, H, num_layers=2, batch_first=True))
    with pytest.raises(ValueError, match="tanh"):
        rnn.RNN.from_torch(nn.RNN(D, H, nonlinearity="relu", batch_first=True))


@pytest.mark.parametrize(
    "module",
    [rnn.LSTMCell(D, H), rnn.LSTM(D, H), nn.LSTM(D, H, batch_first=True), nn.LSTMCell(D, H)],
)
def test_set_forget_bias(module):
    before = {name: p.detach().clone() for name, p in module.named_parameters()}
    rnn.set_forget_bias(module, 2.0)
    biases = dict(module.named_parameters())
    total = sum(p for name, p in biases.items() if "bias" in name)
    assert torch.all(total[H : 2 * H] == 2.0)  # the forget gate is the second block of four
    for name, p in biases.items():  # the other gates and the weights are untouched
        keep = torch.ones(p.shape[0], dtype=torch.bool)
        if "bias" in name:
            keep[H : 2 * H] = False
        torch.testing.assert_close(p[keep], before[name][keep], rtol=0, atol=0)
    cell = rnn.LSTMCell(D, H)
    assert cell.forget_bias(1.5) is cell


@pytest.mark.parametrize(
    "module",
    [
        nn.RNN(D, 8, batch_first=True),  # bias of 8: splits into four blocks of 2
        nn.GRU(D, 4, batch_first=True),  # bias of 12: splits into four blocks of 3
        nn.GRUCell(D, 4),
        rnn.RNNCell(D, 4),
        rnn.RNN(D, 8),
        nn.Linear(2, 2, bias=False),
        nn.Sequential(nn.LSTM(D, H)),  # an LSTM inside: pass the LSTM itself
    ],
)
def test_set_forget_bias_refuses_what_has_no_forget_gate(module):
    before = [p.detach().clone() for p in module.parameters()]
    with pytest.raises(TypeError, match=r"lstm must be an LSTM .*, got " + type(module).__name__):
        rnn.set_forget_bias(module, 1.0)
    for p, old in zip(module.parameters(), before, strict=True):
        torch.testing.assert_close(p, old, rtol=0, atol=0)  # nothing was overwritten


def test_set_forget_bias_errors():
    with pytest.raises(ValueError, match="lstm has no biases"):
        rnn.set_forget_bias(nn.LSTM(D, H, bias=False), 1.0)
    with pytest.raises(TypeError, match="value must be a number"):
        rnn.set_forget_bias(nn.LSTM(D, H), "1")


def test_forget_bias_keeps_the_cell_state():
    """With input and candidate switched off, c_t = f * c_{t-1}: the bias sets the decay."""
    for bias, expected in [(0.0, 0.5), (3.0, torch.sigmoid(torch.tensor(3.0)).item())]:
        cell = rnn.LSTMCell(D, H)
        with torch.no_grad():
            for p in cell.parameters():
                p.zero_()
        rnn.set_forget_bias(cell, bias)
        _, c = cell(torch.zeros(1, D), (torch.zeros(1, H), torch.ones(1, H)))
        torch.testing.assert_close(c, torch.full((1, H), expected))


def test_gradient_by_distance():
    layer = nn.RNN(D, H, batch_first=True)
    x = torch.randn(B, 20, D)
    g = rnn.gradient_by_distance(layer, x)
    assert g.shape == (20,)
    # Distance 0 by hand: h_T = tanh(W_ih x_T + ...), so d(sum h_T)/dx_T = W_ihᵀ (1 - h_T²).
    h_last = layer(x)[0][:, -1].detach()
    by_hand = ((1 - h_last**2) @ layer.weight_ih_l0.detach()).norm(dim=-1).mean()
    torch.testing.assert_close(g[0], by_hand)
    # Same numbers from our layer with the same weights
    torch.testing.assert_close(
        rnn.gradient_by_distance(rnn.RNN.from_torch(layer), torch.randn(B, 20, D).zero_() + 1),
        rnn.gradient_by_distance(layer, torch.randn(B, 20, D).zero_() + 1),
    )
    with torch.no_grad():
        layer.weight_hh_l0.mul_(0.1)  # a contracting recurrence: the gradient must vanish
    g = rnn.gradient_by_distance(layer, torch.randn(B, 20, D))
    assert g[15] < 1e-6 * g[0]
    with pytest.raises(ValueError, match=r"inputs must be \(batch, seq, input_size\)"):
        rnn.gradient_by_distance(layer, torch.randn(20, D))


@pytest.mark.parametrize("kind", [nn.RNN, nn.LSTM, nn.GRU])
def test_gradient_by_distance_refuses_a_layer_that_is_not_batch_first(kind):
    """Such a layer reads (batch, seq) as (seq, batch): the curve would look fine and be wrong."""
    with pytest.raises(ValueError, match="batch_first=False"):
        rnn.gradient_by_distance(kind(D, H), torch.randn(B, 20, D))
    g = rnn.gradient_by_distance(kind(D, H, batch_first=True), torch.randn(B, 20, D))
    assert g.shape == (20,)


@pytest.mark.parametrize("radius", [0.5, 2.0])
def test_set_recurrent_radius(radius):
    layer = nn.RNN(D, 200, batch_first=True)
    rnn.set_recurrent_radius(layer, radius, seed=1)
    spectral_radius = torch.linalg.eigvals(layer.weight_hh_l0).abs().max().item()
    assert abs(spectral_radius - radius) < 0.15 * radius
    cell = rnn.RNNCell(D, 8)
    rnn.set_recurrent_radius(cell, radius)
    assert cell.weight_hh.shape == (8, 8)


def test_set_recurrent_radius_errors():
    with pytest.raises(ValueError, match="square"):
        rnn.set_recurrent_radius(nn.LSTM(D, H), 1.0)
    with pytest.raises(TypeError, match="no recurrent weights"):
        rnn.set_recurrent_radius(nn.Linear(2, 2), 1.0)
    with pytest.raises(ValueError, match="radius must be a number >= 0, got -1"):
        rnn.set_recurrent_radius(nn.RNN(D, H), -1)


def test_gradient_by_distance_on_lstms():
    """Ours and PyTorch's LSTM agree, and an open forget gate keeps the far gradient alive."""
    torch_lstm = nn.LSTM(D, H, batch_first=True)
    x = torch.randn(B, 30, D)
    torch.testing.assert_close(
        rnn.gradient_by_distance(rnn.LSTM.from_torch(torch_lstm), x),
        rnn.gradient_by_distance(torch_lstm, x),
    )
    closed, open_ = nn.LSTM(D, H, batch_first=True), nn.LSTM(D, H, batch_first=True)
    rnn.set_forget_bias(closed, -3.0)
    rnn.set_forget_bias(open_, 3.0)
    far_closed = rnn.gradient_by_distance(closed, x)
    far_open = rnn.gradient_by_distance(open_, x)
    assert far_open[25] / far_open[0] > 1e3 * far_closed[25] / far_closed[0]
