"""Recurrent networks from scratch: an Elman RNN cell and an LSTM cell, and layers that loop them.

Chapter 01 builds these equation by equation and checks them against ``torch.nn.RNN`` and
``torch.nn.LSTM``. Parameter names and shapes follow PyTorch's, so weights copy across directly:

=================  ========================  =====================================================
parameter          shape                     role
=================  ========================  =====================================================
``weight_ih``      ``(G * hidden, input)``   input  → gates (G = 1 for the RNN, 4 for the LSTM)
``weight_hh``      ``(G * hidden, hidden)``  hidden → gates
``bias_ih``        ``(G * hidden,)``         PyTorch keeps two biases; their sum is what matters
``bias_hh``        ``(G * hidden,)``
=================  ========================  =====================================================

The LSTM stacks its four gates in PyTorch's order: input ``i``, forget ``f``, cell candidate
``g``, output ``o``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .validation import check_number, check_positive_int, check_shape, check_tensor, check_type


def _check_input(x: torch.Tensor, input_size: int) -> None:
    """A cell's input: ``(batch, input_size)`` (any leading dimensions work)."""
    dims = f"(batch, input_size={input_size})"
    check_tensor("x", x, min_ndim=1, dims=dims)
    if x.shape[-1] != input_size:
        raise ValueError(f"x must be {dims}, got shape {tuple(x.shape)}")


class CellBase(nn.Module):
    """What every recurrent cell here shares: ``G`` gates' worth of weights and biases.

    A subclass sets ``gates`` (1 for the RNN, 4 for the LSTM, 3 for a GRU) and writes
    ``forward``; the parameters ``weight_ih (G*hidden, input)``, ``weight_hh (G*hidden, hidden)``,
    ``bias_ih``, ``bias_hh (G*hidden,)`` and PyTorch's initialisation come from here.
    """

    gates = 1

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        check_positive_int("input_size", input_size)
        check_positive_int("hidden_size", hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        g = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(g))
        self.bias_hh = nn.Parameter(torch.empty(g))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight uniform in ``±1/sqrt(hidden_size)``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}"

    def _zeros(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(*x.shape[:-1], self.hidden_size)

    def _affine(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``W_ih x + b_ih + W_hh h + b_hh``: shape ``(..., G * hidden)``."""
        return x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh


class RNNCell(CellBase):
    r"""One step of an Elman RNN.

    .. math:: h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})


    ``forward(x, h=None)``: ``x`` is ``(batch, input_size)``, ``h`` is ``(batch, hidden_size)``
    (zeros when ``None``). Returns the new ``h``, ``(batch, hidden_size)``.
    """

    gates = 1

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        _check_input(x, self.input_size)
        h = self._zeros(x) if h is None else h
        return torch.tanh(self._affine(x, h))


class LSTMCell(CellBase):
    r"""One step of an LSTM.

    .. math::
        i, f, g, o &= \sigma(\cdot), \sigma(\cdot), \tanh(\cdot), \sigma(\cdot)
                      \text{ of } W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh} \\
        c_t &= f \odot c_{t-1} + i \odot g \qquad \text{(long-term memory)} \\
        h_t &= o \odot \tanh(c_t) \qquad \text{(short-term memory, the output)}

    ``forward(x, state=None)``: ``x`` is ``(batch, input_size)``; ``state`` is ``(h, c)``, each
    ``(batch, hidden_size)`` (zeros when ``None``). Returns the new ``(h, c)``.
    """

    gates = 4

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _check_input(x, self.input_size)
        h, c = (self._zeros(x), self._zeros(x)) if state is None else state
        i, f, g, o = self._affine(x, h).chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, c

    def forget_bias(self, value: float) -> LSTMCell:
        """Set the forget gate's total bias (``bias_ih + bias_hh``) to ``value``; returns self.

        A positive value (1 is common) starts training with the forget gate mostly open, so the
        cell state, and its gradient, survive across many steps.
        """
        set_forget_bias(self, value)
        return self


def set_forget_bias(lstm: nn.Module, value: float) -> None:
    """Set the forget-gate bias of an :class:`LSTMCell`, :class:`LSTM`, ``torch.nn.LSTM`` or
    ``torch.nn.LSTMCell``.

    PyTorch splits the bias in two (``bias_ih``, ``bias_hh``); the gate sees their sum, so this
    puts ``value`` in the first and zero in the second, for every layer. Any other module is a
    ``TypeError``: an RNN or a GRU has no forget gate, even when its bias splits into four.
    """
    lstms = (LSTMCell, LSTM, nn.LSTMCell, nn.LSTM)  # the only ones with a forget gate
    check_type("lstm", lstm, lstms, "an LSTM (utils.rnn.LSTMCell or LSTM, nn.LSTMCell or LSTM)")
    check_number("value", value)
    biases = [(n, p) for n, p in lstm.named_parameters() if "bias_ih" in n or "bias_hh" in n]
    if not biases:
        raise ValueError(f"lstm has no biases to set (a {type(lstm).__name__} with bias=False)")
    with torch.no_grad():
        for name, p in biases:
            hidden = p.shape[0] // 4  # the gates i, f, g, o, each hidden_size long
            p[hidden : 2 * hidden] = value if "bias_ih" in name else 0.0


def set_recurrent_radius(module: nn.Module, radius: float, seed: int = 0) -> None:
    """Replace an RNN's recurrent weights ``W_hh`` by a random matrix of spectral radius ``radius``.

    A ``hidden x hidden`` matrix of independent normal entries with standard deviation
    ``radius / sqrt(hidden)`` has eigenvalues spread over a disc of radius about ``radius``
    (the circular law). Below 1 the recurrence shrinks signals step after step; above 1 it can
    blow them up. Works on :class:`RNNCell`, :class:`RNN` and ``torch.nn.RNN`` (every layer).
    """
    check_number("radius", radius, low=0)
    generator = torch.Generator().manual_seed(seed)
    found = False
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "weight_hh" in name:
                if p.shape[0] != p.shape[1]:
                    raise ValueError(f"{name} is {tuple(p.shape)}: only a plain RNN's is square")
                hidden = p.shape[0]
                p.copy_(
                    torch.randn(hidden, hidden, generator=generator) * radius / math.sqrt(hidden)
                )
                found = True
    if not found:
        raise TypeError(f"no recurrent weights (weight_hh) found in {type(module).__name__}")


class _LayerBase(nn.Module):
    cell_class: type[CellBase] = RNNCell
    torch_class: type[nn.Module] = nn.RNN

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.cell = self.cell_class(input_size, hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size

    @classmethod
    def from_torch(cls, module: nn.Module):
        """Build one of ours with the weights of a 1-layer, unidirectional, batch_first
        ``torch.nn.RNN`` (for :class:`RNN`) or ``torch.nn.LSTM`` (for :class:`LSTM`)."""
        torch_name = f"torch.nn.{cls.torch_class.__name__}"
        check_type("module", module, cls.torch_class, f"a {torch_name}")
        if module.num_layers != 1 or module.bidirectional or not module.batch_first:
            raise ValueError("only 1-layer, unidirectional, batch_first=True modules copy across")
        if not module.bias or getattr(module, "proj_size", 0):
            raise ValueError("only modules with biases and no projection copy across")
        if getattr(module, "nonlinearity", "tanh") != "tanh":
            raise ValueError("only the tanh RNN copies across")
        ours = cls(module.input_size, module.hidden_size)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ours.cell, name).copy_(getattr(module, f"{name}_l0"))
        return ours

    def _check(self, x: torch.Tensor) -> None:
        dims = f"(batch, seq, input_size={self.input_size})"
        check_shape("x", x, (None, None, self.input_size), dims=dims)


class RNN(_LayerBase):
    """An Elman RNN over a whole sequence: the :class:`RNNCell` applied step by step.

    ``forward(x, h0=None)``: ``x`` is ``(batch, seq, input_size)``. Returns ``(outputs, h_n)``:
    every step's hidden state ``(batch, seq, hidden)`` and the last one ``(batch, hidden)``.
    Note the Python loop: step ``t`` cannot start before step ``t - 1`` has finished.
    """

    cell_class = RNNCell
    torch_class = nn.RNN

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x)
        h = h0
        outputs = []
        for t in range(x.shape[1]):
            h = self.cell(x[:, t], h)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h


class LSTM(_LayerBase):
    """An LSTM over a whole sequence: the :class:`LSTMCell` applied step by step.

    ``forward(x, state=None)``: ``x`` is ``(batch, seq, input_size)``. Returns
    ``(outputs, (h_n, c_n))`` with outputs ``(batch, seq, hidden)``, as ``torch.nn.LSTM`` does
    (without its leading ``num_layers`` dimension on ``h_n`` and ``c_n``).
    """

    cell_class = LSTMCell
    torch_class = nn.LSTM

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        self._check(x)
        outputs = []
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
            outputs.append(state[0])
        return torch.stack(outputs, dim=1), state


def gradient_by_distance(layer: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """How strongly the last output depends on each earlier input.

    Runs ``layer`` (any of ours or ``torch.nn.RNN``/``LSTM``/``GRU`` with ``batch_first=True``)
    on ``inputs`` ``(batch, seq, input_size)``, takes a loss that depends only on the final
    hidden state (the sum of its entries), and returns, for each distance ``k = 0 .. seq-1``
    back from the end, the norm of the gradient of that loss with respect to the input at step
    ``seq - 1 - k``, averaged over the batch: a tensor of shape ``(seq,)``.

    A PyTorch layer built without ``batch_first=True`` would read the batch as time and return
    a plausible but meaningless curve, so it raises ``ValueError``.
    """
    for module in layer.modules():  # the layer itself, or PyTorch layers inside it
        if isinstance(module, nn.RNNBase) and not module.batch_first:
            raise ValueError(
                "layer must be batch-first (inputs (batch, seq, input_size)), got a "
                f"{type(module).__name__} with batch_first=False: build it with batch_first=True"
            )
    check_tensor("inputs", inputs, ndim=3, dims="(batch, seq, input_size)")
    x = inputs.detach().clone().requires_grad_(True)
    outputs = layer(x)[0]  # (batch, seq, hidden) for ours and PyTorch's alike
    outputs[:, -1].sum().backward()
    norms = x.grad.norm(dim=-1).mean(dim=0)  # (seq,)
    return norms.flip(0)
