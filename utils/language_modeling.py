"""Training a language model on a stream of token ids (chapter 07 writes each piece first).

* :func:`get_batch`: random windows of the ids, inputs and targets shifted by one (teacher
  forcing).
* :func:`estimate_loss`: the mean cross-entropy on the same seeded windows at every call.
* :func:`cosine_learning_rate`: linear warm-up, then a cosine decay to 0.
* :func:`train_lm`: the training loop of 07.1 (AdamW, the schedule, clipping at 1), with the
  training and validation loss every ``eval_every`` steps, on the CPU or, when ``COURSE_DEVICE``
  asks for one, a GPU (see :func:`utils.env.device`).
* :func:`unigram_loss` and :func:`bits_per_char`: the baseline, and the unit that compares models
  with different tokenisations.

Any model with ``forward(idx) -> (batch, seq, vocab)`` logits and ``context_length`` works:
:class:`utils.gpt.GPT` and :class:`utils.llama.Llama`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .positional import _check_positive_int


def _check_ids(ids: object) -> None:
    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.int64 or ids.dim() != 1:
        raise ValueError(
            "ids must be a 1-D int64 tensor of token ids, got "
            f"{getattr(ids, 'dtype', type(ids).__name__)} {tuple(getattr(ids, 'shape', ()))}"
        )


def get_batch(
    ids: torch.Tensor,
    batch_size: int,
    block_size: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of ``ids`` ``(n,)``: inputs ``(batch, block)`` and the targets, the same
    windows shifted by one position."""
    _check_ids(ids)
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("block_size", block_size)
    if len(ids) < block_size + 1:
        raise ValueError(f"{len(ids)} ids are too few for windows of {block_size} + 1")
    starts = torch.randint(len(ids) - block_size - 1, (batch_size,), generator=generator)
    x = torch.stack([ids[s : s + block_size] for s in starts])
    y = torch.stack([ids[s + 1 : s + block_size + 1] for s in starts])
    return x, y


@torch.no_grad()
def estimate_loss(
    model: nn.Module, ids: torch.Tensor, batches: int = 4, batch_size: int = 32, seed: int = 1234
) -> float:
    """Mean cross-entropy (nats per token) of ``model`` on ``batches`` random windows of ``ids``,
    the same windows at every call (seeded), full context length."""
    from .env import module_device

    was_training = model.training
    model.eval()
    device = module_device(model)  # the windows go where the model is
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(batches):
        x, y = get_batch(ids, batch_size, model.context_length, generator=g)
        x, y = x.to(device), y.to(device)
        losses.append(F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item())
    model.train(was_training)
    return sum(losses) / len(losses)


def cosine_learning_rate(step: int, *, steps: int, warmup: int, lr: float) -> float:
    """``lr`` after a linear warm-up of ``warmup`` steps, then a cosine decay to 0 at ``steps``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))


def train_lm(
    model: nn.Module,
    train_ids: torch.Tensor,
    val_ids: torch.Tensor | None = None,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    warmup: int = 50,
    weight_decay: float = 0.1,
    eval_every: int = 50,
    seed: int = 0,
    desc: str | None = "training",
    device: torch.device | str | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` on random windows of ``train_ids`` with 07.1's loop; returns the history
    ``{"step": [...], "train": [...], "validation": [...]}`` (measured every ``eval_every``
    steps and at the end; no validation without ``val_ids``). ``seed`` fixes the batches.

    ``device``: where to train; ``None`` reads ``COURSE_DEVICE`` (:func:`utils.env.device`, the
    CPU by default). The model moves there for the training and back to its own device after,
    so the cells that use it next are unchanged; the batches are drawn on the CPU (the same
    batches on every device) and moved there."""
    from .env import on_device, progress

    _check_ids(train_ids)
    _check_positive_int("steps", steps)
    if not 0 <= warmup < steps:
        raise ValueError(f"warmup must be in [0, steps={steps}), got {warmup}")
    with on_device(model, device) as device:
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay
        )
        g = torch.Generator().manual_seed(seed)
        history: dict[str, list[float]] = {"step": [], "train": [], "validation": []}

        def measure(step: int) -> None:
            history["step"].append(step)
            history["train"].append(estimate_loss(model, train_ids))
            if val_ids is not None:
                history["validation"].append(estimate_loss(model, val_ids))

        model.train()
        steps_range = progress(range(steps), desc=desc) if desc else range(steps)
        for step in steps_range:
            if eval_every and step % eval_every == 0:
                measure(step)
            for group in optimizer.param_groups:
                group["lr"] = cosine_learning_rate(step, steps=steps, warmup=warmup, lr=lr)
            x, y = get_batch(train_ids, batch_size, model.context_length, generator=g)
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        measure(steps)
    return history


def unigram_loss(train_ids: torch.Tensor, ids: torch.Tensor, vocab_size: int) -> float:
    """Cross-entropy (nats per token) on ``ids`` of the model that predicts every token with its
    frequency in ``train_ids`` (add-one smoothed, so no token has probability 0)."""
    _check_ids(train_ids)
    _check_ids(ids)
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1
    return -(counts / counts.sum()).log()[ids].mean().item()


def bits_per_char(loss_per_token: float, tokens_per_char: float) -> float:
    """A loss in nats per token → bits per character: ``loss / ln 2 × tokens / characters``."""
    return loss_per_token / math.log(2) * tokens_per_char
