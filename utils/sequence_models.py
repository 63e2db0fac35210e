"""Small sequence classifiers for chapter 01's experiments, and the recall experiment itself.

Three models read a sequence of token ids and predict one label from it:

* :class:`RecurrentClassifier` with ``kind="rnn"`` or ``"lstm"``: embed the tokens, run a
  recurrent layer over them, classify from the **last** hidden state. Everything the model knows
  about the first token must have survived every step in between.
* :class:`AttentionClassifier`: embed the tokens and their positions, and let the last position
  look directly at every position with one self-attention layer (chapter 04 builds it from
  scratch). The first token is one step away, however long the sequence.

:func:`recall_accuracy` trains one of them on :func:`utils.tasks.first_token_recall` with a fixed
budget and returns its accuracy on fresh sequences.

For per-token tasks (one prediction at every position, chapters 03-04):
:class:`PerTokenModel` with a pluggable attention and position scheme, :func:`train_per_token`
and :func:`accuracy_by_position`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .rnn import set_forget_bias
from .tasks import IGNORE, first_token_recall
from .validation import check_choice, check_ids, check_positive_int

KINDS = ("rnn", "lstm", "attention")


class RecurrentClassifier(nn.Module):
    """Embedding → ``torch.nn.RNN`` or ``torch.nn.LSTM`` → linear layer on the last hidden state.

    ``forward(tokens)``: ``tokens`` ``(batch, seq)`` int64 → logits ``(batch, num_classes)``.
    ``forget_bias`` (LSTM only) sets the forget gate's initial bias (see
    :func:`utils.rnn.set_forget_bias`); ``None`` keeps PyTorch's default (about 0).
    """

    def __init__(
        self,
        kind: str,
        vocab_size: int,
        hidden_size: int = 64,
        num_classes: int | None = None,
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        check_choice("kind", kind, ("rnn", "lstm"))
        if forget_bias is not None and kind != "lstm":
            raise ValueError("forget_bias only applies to kind='lstm'")
        self.kind = kind
        self.embed = nn.Embedding(vocab_size, hidden_size)
        layer = nn.RNN if kind == "rnn" else nn.LSTM
        self.recurrent = layer(hidden_size, hidden_size, batch_first=True)
        if forget_bias is not None:
            set_forget_bias(self.recurrent, forget_bias)
        self.head = nn.Linear(hidden_size, num_classes or vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        check_ids("tokens", tokens)
        outputs = self.recurrent(self.embed(tokens))[0]  # (batch, seq, hidden)
        return self.head(outputs[:, -1])


class AttentionClassifier(nn.Module):
    """Token + learned position embeddings → one self-attention step from the last position.

    The last position's vector is the query; every position (itself included) is a key and a
    value; the attended result (plus the query, a residual connection) is classified.
    ``forward(tokens)``: ``tokens`` ``(batch, seq)`` with ``seq <= max_len`` → logits
    ``(batch, num_classes)``.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 64,
        max_len: int = 512,
        num_heads: int = 1,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.max_len = check_positive_int("max_len", max_len)
        self.embed = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(max_len, d_model)
        self.attention = nn.MultiheadAttention(d_model, num_heads, batch_first=True)
        self.head = nn.Linear(d_model, num_classes or vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        check_ids("tokens", tokens)
        seq = tokens.shape[1]
        if seq > self.max_len:
            raise ValueError(f"sequence length {seq} exceeds max_len={self.max_len}")
        x = self.embed(tokens) + self.position(torch.arange(seq, device=tokens.device))
        query = x[:, -1:]  # (batch, 1, d_model)
        attended, _ = self.attention(query, x, x, need_weights=False)
        return self.head((attended + query)[:, 0])


def make_model(kind: str, vocab_size: int = 8, size: int = 64, **kwargs) -> nn.Module:
    """``"rnn"``, ``"lstm"`` or ``"attention"`` → a fresh classifier of hidden size ``size``."""
    if kind == "attention":
        return AttentionClassifier(vocab_size, d_model=size, **kwargs)
    check_choice("kind", kind, KINDS)
    return RecurrentClassifier(kind, vocab_size, hidden_size=size, **kwargs)


def recall_accuracy(
    model: nn.Module | Callable[[], nn.Module],
    length: int,
    *,
    vocab_size: int = 8,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 3e-3,
    clip: float | None = 1.0,
    test_size: int = 1000,
    seed: int = 0,
) -> float:
    """Train a classifier on first-token recall at one ``length``; return its test accuracy.

    Every model gets the same budget: ``steps`` Adam updates on batches of ``batch_size`` fresh
    random sequences, gradient norm clipped to ``clip``. The test set is ``test_size`` sequences
    the model never saw (from a different seed). Chance is ``1 / vocab_size``.

    ``model`` may be a module or a function that builds one (called after seeding, so that the
    initial weights repeat too). PyTorch's global random number generator is seeded with
    ``seed`` for the run, and restored afterwards: the caller's random numbers do not change.
    """
    for name, value in (("length", length), ("steps", steps), ("batch_size", batch_size)):
        check_positive_int(name, value)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if not isinstance(model, nn.Module):
            model = model()
        train_batches = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        for _ in range(steps):
            tokens, targets = first_token_recall(batch_size, length, vocab_size, train_batches)
            loss = nn.functional.cross_entropy(model(tokens), targets)
            optimizer.zero_grad()
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
        model.eval()
        tokens, targets = first_token_recall(test_size, length, vocab_size, seed=10_000 + seed)
        with torch.no_grad():
            return (model(tokens).argmax(-1) == targets).float().mean().item()


# ------------------------------------------------------------------------------ per-token models
class PerTokenModel(nn.Module):
    """Embedding → optional positions → ``x + attention(x)`` → linear read-out at every position.

    The smallest model that can learn a per-token task such as
    :func:`utils.tasks.previous_token`, with the attention and the position scheme plugged in:
    ``attention`` maps ``(batch, seq, d_model)`` to the same shape (or to a tuple whose first
    element is that, e.g. ``(output, weights)``; the weights are kept in ``last_weights``);
    ``positions`` (e.g. :class:`utils.positional.SinusoidalPositionalEncoding`) is applied to the
    embeddings, or ``None`` for no position information outside the attention.

    ``forward(tokens (batch, seq))`` → logits ``(batch, seq, vocab_size)``.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        attention: nn.Module,
        positions: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.positions = positions
        self.attention = attention
        self.head = nn.Linear(d_model, vocab_size)
        self.last_weights: torch.Tensor | None = None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        check_ids("tokens", tokens, self.embed.num_embeddings)
        x = self.embed(tokens)
        if self.positions is not None:
            x = self.positions(x)
        out = self.attention(x)
        if isinstance(out, tuple):
            out, self.last_weights = out[0], out[1]
        return self.head(x + out)


def train_per_token(
    model: nn.Module,
    task: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    *,
    length: int,
    steps: int = 500,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    desc: str | None = None,
    device: torch.device | str | None = None,
) -> list[float]:
    """Train ``model`` with Adam on fresh batches of ``task(batch_size, length, seed=generator)``
    (targets ``(batch, seq)``, with :data:`utils.tasks.IGNORE` where nothing is scored). Shows a
    progress bar titled ``desc``; returns the loss of every step and leaves the model in eval
    mode.

    ``device``: where to train; ``None`` reads ``COURSE_DEVICE`` (:func:`utils.env.device`, the
    CPU by default). The batches are drawn on the CPU (the same ones on every device) and moved
    there; the model moves there for the training and back to its own device after."""
    from .env import on_device, progress

    for name, value in (("length", length), ("steps", steps), ("batch_size", batch_size)):
        check_positive_int(name, value)
    with on_device(model, device) as device:
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        losses = []
        for _ in progress(range(steps), desc=desc, disable=desc is None):
            tokens, targets = task(batch_size, length, seed=generator)
            logits = model(tokens.to(device))
            loss = nn.functional.cross_entropy(
                logits.flatten(0, 1), targets.to(device).flatten(), ignore_index=IGNORE
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
    return losses


@torch.no_grad()
def accuracy_by_position(
    model: nn.Module,
    task: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    *,
    length: int,
    n: int = 500,
    seed: int = 10_000,
) -> torch.Tensor:
    """Accuracy at each position over ``n`` fresh sequences of ``length``: float ``(length,)``,
    NaN where the task scores nothing (e.g. position 0 of :func:`utils.tasks.previous_token`)."""
    tokens, targets = task(n, length, seed=seed)
    correct = (model(tokens).argmax(-1) == targets).float()
    scored = targets != IGNORE
    out = (correct * scored).sum(0) / scored.sum(0)
    return out.masked_fill(scored.sum(0) == 0, float("nan"))
