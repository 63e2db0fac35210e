"""Sequence-to-sequence data and training for chapter 05: numbers written in English → French.

* :func:`number_pairs` renders numbers as words with ``num2words`` ("seventy-one" →
  "soixante et onze"): a translation task made by code, any size, no download. Word order and
  structure differ between the languages (French counts 71 as 60 + 11 and 99 as 4 × 20 + 19),
  so a model must do more than translate word by word.
* :func:`number_split` draws disjoint train and test numbers, so the test measures
  generalisation to numbers never seen.
* :class:`WordVocab` maps words to ids with the four special tokens; :func:`encode_batch` pads.
* :func:`noam_lr` is the paper's warm-up learning-rate schedule; :func:`train_seq2seq` trains
  with label smoothing and teacher forcing.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .positional import _check_positive_int

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


def number_pairs(
    numbers: Iterable[int], src_lang: str = "en", tgt_lang: str = "fr"
) -> list[tuple[str, str]]:
    """``(source phrase, target phrase)`` for each number, written out by ``num2words``:
    ``[321]`` → ``[("three hundred and twenty-one", "trois cent vingt et un")]``."""
    pairs = []
    for n in numbers:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"numbers must be non-negative ints, got {n!r}")
        pairs.append((_words_for(n, src_lang), _words_for(n, tgt_lang)))
    return pairs


@functools.lru_cache(maxsize=200_000)
def _words_for(n: int, lang: str) -> str:
    """``num2words`` is slow (about 0.1 ms a call); notebooks that build the task twice reuse it."""
    from num2words import num2words

    return num2words(n, lang=lang)


def number_split(
    n_train: int, n_test: int, high: int = 1_000_000, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Two disjoint random samples of ``[0, high)``: ``n_train`` training numbers and
    ``n_test`` test numbers, repeatable from ``seed``."""
    if n_train < 1 or n_test < 1 or n_train + n_test > high:
        raise ValueError(
            f"need 1 <= n_train, 1 <= n_test and n_train + n_test <= high, got "
            f"n_train={n_train}, n_test={n_test}, high={high}"
        )
    sample = random.Random(seed).sample(range(high), n_train + n_test)
    return sample[:n_train], sample[n_train:]


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
    if step < 1:
        raise ValueError(f"step numbers start at 1, got {step}")
    if d_model < 1 or warmup < 1:
        raise ValueError(f"d_model and warmup must be at least 1, got {d_model} and {warmup}")
    _check_factor(factor)
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def _check_factor(factor: float) -> None:
    if not (factor > 0 and math.isfinite(factor)):
        raise ValueError(f"factor must be a positive finite number, got {factor}")


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
) -> list[float]:
    """Teacher forcing: feed ``tgt[:, :-1]`` (starting with ``<bos>``) and predict
    ``tgt[:, 1:]`` with label-smoothed cross-entropy, padding ignored; Adam with
    β = (0.9, 0.98), ε = 1e-9 and :func:`noam_lr`, as in the paper. Returns the loss of every
    step and leaves the model in eval mode. ``model`` needs ``pad_id`` and
    ``tgt_embed.tokens.embedding_dim`` (a :class:`utils.transformer.Transformer`)."""
    from .env import progress

    for name, value in (("steps", steps), ("batch_size", batch_size), ("warmup", warmup)):
        _check_positive_int(name, value)
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    _check_factor(factor)
    d_model = model.tgt_embed.tokens.embedding_dim
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


@dataclass
class NumberTask:
    """Chapter 05's translation task, ready to train on: numbers in English → French."""

    train: Seq2SeqData
    test: Seq2SeqData
    src_vocab: WordVocab
    tgt_vocab: WordVocab
    train_numbers: list[int]
    test_numbers: list[int]


def number_task(
    n_train: int = 10_000,
    n_test: int = 500,
    high: int = 1_000_000,
    seed: int = 0,
    shared_vocab: bool = False,
) -> NumberTask:
    """Draw disjoint train and test numbers below ``high`` (:func:`number_split`), write them
    out in English and French (:func:`number_pairs`), build the vocabularies from the training
    phrases (one joint vocabulary with ``shared_vocab=True``) and encode both splits."""
    train_numbers, test_numbers = number_split(n_train, n_test, high, seed)
    train_pairs, test_pairs = number_pairs(train_numbers), number_pairs(test_numbers)
    if shared_vocab:
        src_vocab = tgt_vocab = WordVocab(text for pair in train_pairs for text in pair)
    else:
        src_vocab = WordVocab(s for s, _ in train_pairs)
        tgt_vocab = WordVocab(t for _, t in train_pairs)
    return NumberTask(
        make_data(train_pairs, src_vocab, tgt_vocab),
        make_data(test_pairs, src_vocab, tgt_vocab),
        src_vocab,
        tgt_vocab,
        train_numbers,
        test_numbers,
    )
