"""Sequence-to-sequence data and training for chapter 05: numbers written in English → French.

The task itself lives with the other generated tasks, in :mod:`utils.tasks`, and is imported
here too (``S.number_task``, ``S.number_pairs``, ... keep working):

* :func:`~utils.tasks.number_pairs` renders numbers as words with ``num2words``
  ("seventy-one" → "soixante et onze"); :func:`~utils.tasks.number_split` draws disjoint train
  and test numbers; :func:`~utils.tasks.number_task` builds both splits, ready to train on.

This module turns phrases into tensors and trains on them:

* :func:`words` splits a phrase into word tokens; :class:`WordVocab` maps words to ids with the
  four special tokens; :func:`encode_batch` pads; :func:`make_data` encodes a split.
* :func:`noam_lr` is the paper's warm-up learning-rate schedule; :func:`train_seq2seq` trains
  with label smoothing and teacher forcing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .tasks import (  # noqa: F401 (re-exported: the task chapter 05 trains on)
    NumberTask,
    number_pairs,
    number_split,
    number_task,
)
from .validation import check_int, check_number, check_positive_int, check_probability

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


# ---------------------------------------------------------------------------------------- data
def words(text: str) -> list[str]:
    """Split a number phrase into word tokens; hyphens and commas are tokens of their own:
    ``"twenty-one thousand, two"`` → ``['twenty', '-', 'one', 'thousand', ',', 'two']``."""
    return re.findall(r"[^\s,\-]+|[,\-]", text)


def join_words(tokens: Iterable[str]) -> str:
    """Inverse of :func:`words`: ``['vingt', '-', 'deux']`` → ``"vingt-deux"``."""
    text = " ".join(tokens)
    return text.replace(" - ", "-").replace(" ,", ",")


class WordVocab:
    """Word ↔ id, with ``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2 and ``<unk>`` = 3 first.

    ``encode(text)`` → ids of its words followed by ``<eos>`` (with ``bos=True``, preceded by
    ``<bos>``); ``decode(ids)`` stops at the first ``<eos>``, drops ``<pad>`` and ``<bos>`` and
    keeps ``<unk>`` visible."""

    def __init__(self, texts: Iterable[str]) -> None:
        seen = dict.fromkeys(w for text in texts for w in words(text))
        self.itos = list(SPECIALS) + sorted(w for w in seen if w not in SPECIALS)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = range(4)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, bos: bool = False) -> list[int]:
        ids = [self.stoi.get(w, self.unk_id) for w in words(text)] + [self.eos_id]
        return [self.bos_id, *ids] if bos else ids

    def decode(self, ids: Iterable[int]) -> str:
        """Ids → text, up to the first ``<eos>``. ``<pad>`` and ``<bos>`` are skipped;
        ``<unk>`` is kept as the word ``<unk>``, so an output that contains it can never
        equal a reference."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i == self.unk_id or i >= len(SPECIALS):
                out.append(self.itos[i])
        return join_words(out)

    def __repr__(self) -> str:
        return f"WordVocab({len(self)} tokens)"


def encode_batch(texts: Sequence[str], vocab: WordVocab, bos: bool = False) -> torch.Tensor:
    """Encode and right-pad with ``<pad>``: ``len(texts)`` phrases → ids ``(batch, longest)``."""
    rows = [vocab.encode(t, bos=bos) for t in texts]
    out = torch.full((len(rows), max(map(len, rows))), vocab.pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


@dataclass
class Seq2SeqData:
    """Tensors for one split: ``src`` ``(n, seq_s)``, ``tgt`` ``(n, seq_t)`` (``<bos>`` …
    ``<eos>``, padded), and the phrases themselves."""

    src: torch.Tensor
    tgt: torch.Tensor
    sources: list[str]
    targets: list[str]


def make_data(
    pairs: Sequence[tuple[str, str]], src_vocab: WordVocab, tgt_vocab: WordVocab
) -> Seq2SeqData:
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    return Seq2SeqData(
        encode_batch(sources, src_vocab),
        encode_batch(targets, tgt_vocab, bos=True),
        sources,
        targets,
    )


# ------------------------------------------------------------------------------------ training
def noam_lr(step: int, d_model: int, warmup: int = 4000, factor: float = 1.0) -> float:
    """The paper's schedule: ``factor · d_model^-0.5 · min(step^-0.5, step · warmup^-1.5)``.

    The rate rises linearly for ``warmup`` steps, then decays as ``1/√step``. Step numbers
    start at 1."""
    if check_int("step", step) < 1:
        raise ValueError(f"step numbers start at 1, got {step}")
    check_positive_int("d_model", d_model)
    check_positive_int("warmup", warmup)
    check_number("factor", factor, low=0, low_open=True)
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def train_seq2seq(
    model: nn.Module,
    data: Seq2SeqData,
    *,
    steps: int,
    batch_size: int = 128,
    warmup: int = 200,
    factor: float = 1.0,
    label_smoothing: float = 0.1,
    seed: int = 0,
    desc: str | None = "training",
    on_step: Callable[[int, float], None] | None = None,
    device: torch.device | str | None = None,
) -> list[float]:
    """Teacher forcing: feed ``tgt[:, :-1]`` (starting with ``<bos>``) and predict
    ``tgt[:, 1:]`` with label-smoothed cross-entropy, padding ignored; Adam with
    β = (0.9, 0.98), ε = 1e-9 and :func:`noam_lr`, as in the paper. Returns the loss of every
    step and leaves the model in eval mode. ``model`` needs ``pad_id`` and
    ``tgt_embed.tokens.embedding_dim`` (a :class:`utils.transformer.Transformer`).

    ``device``: where to train; ``None`` reads ``COURSE_DEVICE`` (:func:`utils.env.device`, the
    CPU by default). The batches are drawn on the CPU (the same ones on every device) and moved
    there; the model moves there for the training and back to its own device after."""
    from .env import on_device, progress

    for name, value in (("steps", steps), ("batch_size", batch_size), ("warmup", warmup)):
        check_positive_int(name, value)
    check_probability("label_smoothing", label_smoothing)
    check_number("factor", factor, low=0, low_open=True)
    d_model = model.tgt_embed.tokens.embedding_dim
    with on_device(model, device) as device:
        optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda i: noam_lr(i + 1, d_model, warmup, factor)
        )
        generator = torch.Generator().manual_seed(seed)
        n = data.src.shape[0]
        model.train()
        losses = []
        for step in progress(range(steps), desc=desc, disable=desc is None):
            idx = torch.randint(n, (batch_size,), generator=generator)
            src, tgt = _trim(data.src[idx], model.pad_id), _trim(data.tgt[idx], model.pad_id)
            src, tgt = src.to(device), tgt.to(device)
            logits = model(src, tgt[:, :-1])
            loss = nn.functional.cross_entropy(
                logits.flatten(0, 1),
                tgt[:, 1:].flatten(),
                ignore_index=model.pad_id,
                label_smoothing=label_smoothing,
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if on_step is not None:
                on_step(step, loss.item())
        model.eval()
    return losses


def _trim(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Drop the columns that are padding in every row."""
    keep = int((ids != pad_id).any(0).nonzero().max()) + 1
    return ids[:, :keep]
