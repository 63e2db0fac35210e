"""Fine-tuning a pretrained encoder for a sentence-level task (chapter 06.4).

:func:`fine_tune_classifier` is BERT's recipe on a CPU budget: AdamW with two learning rates
(small for the pretrained layers, larger for the new head) and weight decay on the weight
matrices only (not on biases and LayerNorm parameters, as BERT's code does), linear warm-up over
the first 10 % of the steps then linear decay to 0, cross-entropy on the labels, a few epochs.
Batches come from :func:`length_batches`, which groups sentences of similar length so that
little compute is spent on padding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .positional import _check_positive_int


def length_batches(
    indices: torch.Tensor, lengths: torch.Tensor, batch_size: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """One epoch of batches of ``indices``: shuffle, sort by ``lengths`` within chunks of four
    batches, cut into batches of ``batch_size``, shuffle the batches.

    ``indices``: int64 ``(n,)`` rows to use; ``lengths``: ``(rows,)``, the length of every row.
    Every index appears in exactly one batch.
    """
    _check_positive_int("batch_size", batch_size)
    order = indices[torch.randperm(len(indices), generator=generator)]
    batches = [
        batch
        for chunk in order.split(4 * batch_size)
        for batch in chunk[lengths[chunk].argsort(stable=True)].split(batch_size)
    ]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def fine_tune_classifier(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    train_idx: Sequence[int] | torch.Tensor,
    *,
    epochs: int = 2,
    batch_size: int = 16,
    lr: float = 5e-5,
    head_lr: float = 1e-3,
    head: Sequence[str] = ("classifier", "encoder.pooler"),
    weight_decay: float = 0.01,
    seed: int = 0,
    on_step: Callable[[float], None] | None = None,
    device: torch.device | str | None = None,
) -> list[float]:
    """Train ``model(input_ids, attention_mask) -> logits (batch, classes)`` on the rows
    ``train_idx`` and return the loss of every step; the model is left in eval mode.

    ``input_ids``, ``attention_mask``: ``(rows, seq)``, padded on the right (each batch is cut to
    its longest row); ``input_ids`` may also be any per-token input ``(rows, seq, ...)`` that the
    model takes, such as hidden states computed once by frozen lower layers.
    ``labels``: int64 ``(rows,)``. Parameters whose name starts with one of
    ``head`` get ``head_lr``, the others ``lr``; ``weight_decay`` applies to parameters with two
    or more dimensions; parameters with ``requires_grad=False`` stay as they are.
    ``on_step(loss)`` is called after every step (e.g. a progress bar's update).
    ``device``: where to train; ``None`` reads ``COURSE_DEVICE`` (:func:`utils.env.device`, the
    CPU by default). The model moves there for the training and back to its own device after;
    each batch is cut on the CPU and moved there.
    """
    from .env import on_device

    if attention_mask.dim() != 2 or input_ids.shape[:2] != attention_mask.shape:
        raise ValueError(
            "input_ids must be (rows, seq, ...) and attention_mask (rows, seq), got "
            f"{tuple(input_ids.shape)} and {tuple(attention_mask.shape)}"
        )
    if labels.shape != (input_ids.shape[0],):
        raise ValueError(f"labels must be ({input_ids.shape[0]},), got {tuple(labels.shape)}")
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    train_idx = torch.as_tensor(train_idx, dtype=torch.int64)
    if len(train_idx) == 0:
        raise ValueError("train_idx is empty")
    if not 0 <= train_idx.min() <= train_idx.max() < len(labels):
        raise ValueError(f"train_idx must be row numbers in [0, {len(labels)})")
    if (attention_mask[:, 1:] > attention_mask[:, :-1]).any():
        raise ValueError("attention_mask must be padded on the right (1 1 ... 1 0 ... 0 per row)")
    with on_device(model, device) as device:
        return _fine_tune(
            model,
            input_ids,
            attention_mask,
            labels,
            train_idx,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            head_lr=head_lr,
            head=head,
            weight_decay=weight_decay,
            seed=seed,
            on_step=on_step,
            device=device,
        )


def _fine_tune(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    train_idx: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    head_lr: float,
    head: Sequence[str],
    weight_decay: float,
    seed: int,
    on_step: Callable[[float], None] | None,
    device: torch.device,
) -> list[float]:
    """The loop of :func:`fine_tune_classifier`, with the model already on ``device``."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}  # (is head, decays) -> parameters
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups.setdefault((name.startswith(tuple(head)), p.dim() >= 2), []).append(p)
    if not groups:
        raise ValueError("the model has no trainable parameters")
    optimizer = torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": head_lr if is_head else lr,
                "weight_decay": weight_decay if decays else 0.0,
            }
            for (is_head, decays), params in groups.items()
        ]
    )
    steps = epochs * -(-len(train_idx) // batch_size)  # ceil
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, (steps - s) / max(1, steps - warmup))
    )
    lengths = attention_mask.sum(1)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(epochs):
        for batch in length_batches(train_idx, lengths, batch_size, generator):
            width = int(lengths[batch].max())  # cut the batch to its longest row
            x = input_ids[batch, :width].to(device)
            mask = attention_mask[batch, :width].to(device)
            logits = model(x, mask)
            loss = nn.functional.cross_entropy(logits, labels[batch].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if on_step is not None:
                on_step(loss.item())
    model.eval()
    return losses
