"""Word embeddings from scratch: word2vec (skip-gram with negative sampling) and its evaluation.

Chapter 03 builds these in steps::

    sentences = [words(article) for article in data.news_corpus()]
    result = train_word2vec(sentences, dim=100, window=5, negative=5, epochs=10)
    result.vectors.most_similar("police")               # [(word, cosine), ...]
    evaluate_analogies(result.vectors, data.analogy_questions())
    evaluate_similarity(result.vectors, data.simlex999())

The pieces, in the order of the chapter:

* :func:`words` splits text into lower-case words; :class:`Vocabulary` keeps the frequent ones.
* :func:`one_hot` and :func:`embedding_as_matmul` show that an embedding layer is a lookup.
* :func:`keep_probabilities` (sub-sampling frequent words), :func:`unigram_table` (the noise
  distribution ``count**0.75`` as a table to sample from) and :func:`skipgram_pairs` (the
  (centre, context) training pairs with word2vec's random window) prepare the data.
* :class:`SkipGram` holds the two embedding matrices and computes the negative-sampling loss;
  :func:`train_word2vec` trains it.
* :class:`WordVectors` answers nearest-neighbour and analogy queries;
  :func:`evaluate_analogies` and :func:`evaluate_similarity` score vectors the way gensim does.
* :func:`whole_word_vectors` and :func:`contextual_vectors` read embeddings out of a pretrained
  Hugging Face encoder.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn

from .validation import (
    INTEGER_DTYPES,
    check_dtype,
    check_number,
    check_positive_int,
    check_tensor,
    check_type,
)

WORD_PATTERN = r"[a-z]+(?:'[a-z]+)?"


# ------------------------------------------------------------------------------ words and ids
def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (letters, with an inner apostrophe: "don't")."""
    check_type("text", text, str, "a str")
    return re.findall(WORD_PATTERN, text.lower())


def _check_sentences(sentences: object) -> list[list[str]]:
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of lists of words, got a str (use words(text))")
    out = []
    for s in sentences:  # type: ignore[attr-defined]
        if isinstance(s, str) or not all(isinstance(w, str) for w in s):
            raise TypeError(
                "sentences must be a list of lists of words, e.g. [['the', 'cat'], ...]; "
                f"got an item of type {type(s).__name__}"
            )
        out.append(list(s))
    return out


class Vocabulary:
    """The words seen at least ``min_count`` times, most frequent first (ties alphabetical).

    ``vocab["the"]`` is a word's id, ``vocab.words[i]`` the word with id ``i``, ``vocab.counts``
    an int64 tensor ``(len(vocab),)`` of training counts.
    """

    def __init__(self, sentences: Iterable[Sequence[str]], min_count: int = 5) -> None:
        check_positive_int("min_count", min_count)
        counts = Counter(w for s in _check_sentences(sentences) for w in s)
        kept = sorted(
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
        )
        if not kept:
            raise ValueError(
                f"no word occurs {min_count} times or more; lower min_count or give more text"
            )
        self.min_count = min_count
        self.words = kept
        self.index = {w: i for i, w in enumerate(kept)}
        self.counts = torch.tensor([counts[w] for w in kept], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(
                f"{word!r} is not in the vocabulary ({len(self)} words seen "
                f"≥ {self.min_count} times)"
            ) from None

    def encode(self, sentence: Sequence[str]) -> torch.Tensor:
        """Ids of the in-vocabulary words of ``sentence`` (others are dropped), int64 ``(n,)``."""
        return torch.tensor([self.index[w] for w in sentence if w in self.index], dtype=torch.int64)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words, min_count={self.min_count})"


def one_hot(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """One-hot rows: ``ids (...)`` int → float ``(..., vocab_size)`` with a single 1 per row."""
    check_positive_int("vocab_size", vocab_size)
    ids = check_dtype("ids", torch.as_tensor(ids), INTEGER_DTYPES, "integer ids")
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(
            f"ids must be in [0, {vocab_size}), got values from {ids.min().item()} "
            f"to {ids.max().item()}"
        )
    return nn.functional.one_hot(ids.long(), vocab_size).float()


def embedding_as_matmul(ids: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """What ``nn.Embedding`` computes, written as a matrix product: ``one_hot(ids) @ weight``.

    ``ids (...)``, ``weight (vocab, dim)`` → ``(..., dim)``. Equal to ``weight[ids]``, but it
    spends ``vocab × dim`` multiply-adds per token to find one row.
    """
    check_tensor("weight", weight, ndim=2, dims="(vocab, dim)")
    return one_hot(ids, weight.shape[0]).to(weight.dtype) @ weight


# ------------------------------------------------------------------------------ training data
def _check_counts(counts: object) -> torch.Tensor:
    counts = torch.as_tensor(counts)
    if counts.dim() != 1 or counts.numel() == 0:
        raise ValueError(f"counts must be a non-empty 1-D tensor, got shape {tuple(counts.shape)}")
    if (counts < 0).any() or counts.sum() <= 0:
        raise ValueError("counts must be ≥ 0 with a positive total")
    return counts.double()


def noise_distribution(counts: torch.Tensor, power: float = 0.75) -> torch.Tensor:
    """P(w) ∝ count(w)**power, float64 ``(vocab,)``. Word2vec uses 0.75: between the unigram
    distribution (power 1) and uniform (power 0), so rare words are drawn more often than their
    frequency and "the" less."""
    p = _check_counts(counts) ** power
    return p / p.sum()


def unigram_table(counts: torch.Tensor, power: float = 0.75, size: int = 100_000) -> torch.Tensor:
    """Word2vec's sampling table: int64 ``(size,)`` in which word ``i`` fills about
    ``size * P(i)`` slots (:func:`noise_distribution`). A uniform random slot is then a sample
    from ``P``: ``table[torch.randint(size, shape)]``. Every word gets at least one slot."""
    check_positive_int("size", size)
    p = noise_distribution(counts, power)
    if size < len(p):
        raise ValueError(f"size={size} is smaller than the vocabulary ({len(p)} words)")
    slots = torch.floor(p * size).long().clamp(min=1)
    # Hand out the slots rounding left over (or took too many) by largest remainder.
    extra = size - int(slots.sum())
    order = torch.argsort(p * size - torch.floor(p * size), descending=extra > 0)
    i = 0
    while extra != 0:
        j = order[i % len(order)]
        if extra > 0 or slots[j] > 1:
            slots[j] += 1 if extra > 0 else -1
            extra += -1 if extra > 0 else 1
        i += 1
    return torch.repeat_interleave(torch.arange(len(p)), slots)


def keep_probabilities(counts: torch.Tensor, sample: float = 1e-3) -> torch.Tensor:
    """Word2vec's sub-sampling of frequent words, float64 ``(vocab,)``: a word with frequency
    ``f`` (its share of all tokens) is kept with probability ``(sqrt(f/sample) + 1) * sample/f``,
    capped at 1, the formula of the word2vec C code and gensim. ``sample=0`` keeps everything."""
    counts = _check_counts(counts)
    check_number("sample", sample, low=0)
    if sample == 0:
        return torch.ones_like(counts)
    f = counts / counts.sum()
    return ((torch.sqrt(f / sample) + 1) * sample / f.clamp(min=1e-300)).clamp(max=1.0)


def skipgram_pairs(
    sentences: Sequence[torch.Tensor],
    window: int,
    generator: torch.Generator | None = None,
    keep: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All (centre, context) pairs of one epoch: two int64 tensors ``(n_pairs,)``.

    ``sentences`` are id tensors (:meth:`Vocabulary.encode`). As in word2vec, each centre word
    draws its own window ``b`` uniformly from 1..``window``, so near neighbours are paired more
    often than far ones; with ``keep`` (:func:`keep_probabilities`) frequent words are first
    dropped at random.
    """
    check_positive_int("window", window)
    if keep is not None:
        check_tensor("keep", keep, ndim=1, dims="(vocab,)")
    centres, contexts = [], []
    for ids in sentences:
        ids = torch.as_tensor(ids, dtype=torch.int64)
        if ids.dim() != 1:
            raise ValueError(f"each sentence must be a 1-D id tensor, got {tuple(ids.shape)}")
        if keep is not None and len(ids) and (ids.min() < 0 or ids.max() >= len(keep)):
            raise ValueError(f"ids must be in [0, {len(keep)}) to index keep")
        if keep is not None and len(ids):
            ids = ids[torch.rand(len(ids), generator=generator, dtype=torch.float64) < keep[ids]]
        n = len(ids)
        if n < 2:
            continue
        reach = torch.randint(1, window + 1, (n,), generator=generator)
        for d in range(1, min(window, n - 1) + 1):
            left, right = ids[:-d], ids[d:]
            fwd = reach[:-d] >= d  # centre on the left, context d to the right
            bwd = reach[d:] >= d  # centre on the right, context d to the left
            centres += [left[fwd], right[bwd]]
            contexts += [right[fwd], left[bwd]]
    if not centres:
        return torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=torch.int64)
    return torch.cat(centres), torch.cat(contexts)


# ------------------------------------------------------------------------------ the model
class SkipGram(nn.Module):
    """Skip-gram with negative sampling (Mikolov et al., 2013).

    Two matrices: ``in_embed`` (the word vectors we keep, ``v``) and ``out_embed`` (context
    vectors, ``u``), both ``(vocab, dim)``. For a centre ``c``, a true context ``o`` and ``K``
    noise words ``n_k``:

        loss = -log σ(u_o · v_c) - Σ_k log σ(-u_{n_k} · v_c)

    Initialised like word2vec: ``v`` uniform in ±0.5/dim, ``u`` zeros.
    """

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("dim", dim)
        self.in_embed = nn.Embedding(vocab_size, dim)
        self.out_embed = nn.Embedding(vocab_size, dim)
        nn.init.uniform_(self.in_embed.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.out_embed.weight)

    def forward(
        self, centre: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        """``centre (B,)``, ``context (B,)``, ``negatives (B, K)`` ids → mean loss (scalar)."""
        if centre.dim() != 1 or context.shape != centre.shape:
            raise ValueError(
                f"centre and context must both be (batch,), got {tuple(centre.shape)} and "
                f"{tuple(context.shape)}"
            )
        if negatives.dim() != 2 or negatives.shape[0] != centre.shape[0]:
            raise ValueError(
                f"negatives must be (batch={centre.shape[0]}, K), got {tuple(negatives.shape)}"
            )
        v = self.in_embed(centre)  # (B, d)
        u_pos = self.out_embed(context)  # (B, d)
        u_neg = self.out_embed(negatives)  # (B, K, d)
        pos = nn.functional.logsigmoid((u_pos * v).sum(-1))  # (B,)
        neg = nn.functional.logsigmoid(-torch.einsum("bkd,bd->bk", u_neg, v)).sum(-1)  # (B,)
        return -(pos + neg).mean()


@dataclass
class Word2VecResult:
    """What :func:`train_word2vec` returns: the vectors, the vocabulary, the model, and the
    mean loss of every ``log_every`` steps."""

    vectors: WordVectors
    vocab: Vocabulary
    model: SkipGram
    losses: list[float] = field(default_factory=list)
    log_every: int = 20
    pairs_per_epoch: int = 0
    steps: int = 0


def train_word2vec(
    sentences: Sequence[Sequence[str]],
    *,
    dim: int = 100,
    window: int = 5,
    negative: int = 5,
    min_count: int = 5,
    sample: float = 1e-3,
    epochs: int = 5,
    batch_size: int = 1024,
    lr: float = 0.003,
    seed: int = 0,
    log_every: int = 20,
    progress: bool = True,
) -> Word2VecResult:
    """Train skip-gram with negative sampling on ``sentences`` (lists of words).

    The settings mirror gensim's ``Word2Vec`` (``vector_size``, ``window``, ``negative``,
    ``min_count``, ``sample``, ``epochs``); the optimiser is Adam on mini-batches, with the
    learning rate decaying linearly to 0 as word2vec's does. ``seed`` fixes everything random
    (initial weights, sub-sampling, windows, negatives); PyTorch's global random number
    generator is left as it was.
    """
    sentences = _check_sentences(sentences)
    for name, value in (
        ("dim", dim),
        ("negative", negative),
        ("epochs", epochs),
        ("batch_size", batch_size),
        ("log_every", log_every),
    ):
        check_positive_int(name, value)
    check_number("lr", lr, low=0, low_open=True)
    from .env import progress as progress_bar

    g = torch.Generator().manual_seed(seed)  # the data: sub-sampling, windows, negatives
    vocab = Vocabulary(sentences, min_count)
    ids = [vocab.encode(s) for s in sentences]
    keep = keep_probabilities(vocab.counts, sample)
    table = unigram_table(vocab.counts)
    with torch.random.fork_rng():  # the initial weights, from seed; the caller's RNG is untouched
        torch.manual_seed(seed)
        model = SkipGram(len(vocab), dim)
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    epoch_pairs = [skipgram_pairs(ids, window, g, keep) for _ in range(epochs)]
    total = sum(math.ceil(len(c) / batch_size) for c, _ in epoch_pairs)
    if total == 0:
        raise ValueError("no training pairs: the sentences are too short or too rare")
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 - step / total)
    result = Word2VecResult(
        None,  # type: ignore[arg-type]
        vocab,
        model,
        log_every=log_every,
        pairs_per_epoch=len(epoch_pairs[0][0]),
    )
    bar = progress_bar(total=total, desc="word2vec", disable=not progress)
    running = []
    for centres, contexts in epoch_pairs:
        order = torch.randperm(len(centres), generator=g)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            noise = table[torch.randint(len(table), (len(batch), negative), generator=g)]
            loss = model(centres[batch], contexts[batch], noise)
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            running.append(loss.item())
            result.steps += 1
            if len(running) == log_every:
                result.losses.append(sum(running) / len(running))
                running = []
            bar.update()
    bar.set_postfix(loss=f"{result.losses[-1] if result.losses else loss.item():.3f}")
    bar.close()
    result.vectors = WordVectors(vocab.words, model.in_embed.weight.detach().clone())
    return result


# ------------------------------------------------------------------------------ using vectors
class WordVectors:
    """Named word vectors: ``words`` (n,) and ``vectors`` float ``(n, dim)``, with
    cosine-similarity queries. Earlier words win ties, so put frequent words first."""

    def __init__(self, words: Sequence[str], vectors: torch.Tensor) -> None:
        vectors = torch.as_tensor(vectors)
        if vectors.dim() != 2 or vectors.shape[0] != len(words):
            raise ValueError(
                f"vectors must be (len(words)={len(words)}, dim), got {tuple(vectors.shape)}"
            )
        if len(set(words)) != len(words):
            raise ValueError("words must be unique")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.vectors = vectors.float()
        self.unit = nn.functional.normalize(self.vectors, dim=1)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> torch.Tensor:
        if word not in self.index:
            raise KeyError(f"{word!r} is not among the {len(self)} words")
        return self.vectors[self.index[word]]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words, in [-1, 1]."""
        for w in (a, b):
            self[w]  # a clear KeyError for an unknown word
        return float(self.unit[self.index[a]] @ self.unit[self.index[b]])

    def most_similar(
        self, query: str | torch.Tensor, k: int = 10, exclude: Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """The ``k`` words with the highest cosine similarity to ``query`` (a word, which is
        itself excluded, or a vector ``(dim,)``), as ``[(word, similarity), ...]``."""
        check_positive_int("k", k)
        exclude = set(exclude)
        if isinstance(query, str):
            exclude.add(query)
            query = self[query]
        if query.shape != (self.vectors.shape[1],):
            raise ValueError(f"query must be ({self.vectors.shape[1]},), got {tuple(query.shape)}")
        scores = self.unit @ nn.functional.normalize(query.float(), dim=0)
        excluded = [self.index[w] for w in exclude if w in self.index]
        scores[excluded] = -math.inf
        available = len(self) - len(excluded)
        if available == 0:
            raise ValueError("every word is excluded: nothing left to return")
        top = torch.topk(scores, min(k, available))
        return [
            (self.words[i], round(float(s), 4))
            for s, i in zip(top.values, top.indices, strict=True)
        ]

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """ "``a`` is to ``b`` as ``c`` is to ?": the words nearest ``b̂ - â + ĉ`` (unit vectors),
        excluding ``a``, ``b`` and ``c`` (3CosAdd, as gensim's ``most_similar``)."""
        for w in (a, b, c):
            self[w]  # a clear KeyError for an unknown word
        query = self.unit[self.index[b]] - self.unit[self.index[a]] + self.unit[self.index[c]]
        return self.most_similar(query, k, exclude=(a, b, c))

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words × {self.vectors.shape[1]} dims)"


class AnalogyScore(NamedTuple):
    """Accuracy on the questions whose four words are all known (``total``), and ``coverage``:
    the share of all questions that could be asked. ``sections`` maps a section to
    ``(correct, total)``."""

    accuracy: float
    correct: int
    total: int
    coverage: float
    sections: dict[str, tuple[int, int]]


def evaluate_analogies(
    vectors: WordVectors, questions: Sequence[Any], batch_size: int = 512
) -> AnalogyScore:
    """Top-1 accuracy of 3CosAdd on analogy questions ``(a, b, c, d[, section])``.

    Words are lower-cased; a question with an unknown word is skipped (it lowers
    ``coverage``, not ``accuracy``). Counted like gensim's ``evaluate_word_analogies``.
    """
    if len(questions) == 0:
        raise ValueError("questions is empty")
    asked, sections = [], {}
    for q in questions:
        a, b, c, d = (w.lower() for w in q[:4])
        section = q[4] if len(q) > 4 else "all"
        sections.setdefault(section, [0, 0])
        if all(w in vectors.index for w in (a, b, c, d)):
            asked.append((section, [vectors.index[w] for w in (a, b, c, d)]))
    correct = 0
    for start in range(0, len(asked), batch_size):
        chunk = asked[start : start + batch_size]
        idx = torch.tensor([ids for _, ids in chunk])  # (B, 4)
        u = vectors.unit
        query = nn.functional.normalize(u[idx[:, 1]] - u[idx[:, 0]] + u[idx[:, 2]], dim=1)
        scores = query @ u.T  # (B, n_words)
        scores.scatter_(1, idx[:, :3], -math.inf)
        hit = scores.argmax(1) == idx[:, 3]
        for (section, _), h in zip(chunk, hit.tolist(), strict=True):
            sections[section][0] += h
            sections[section][1] += 1
            correct += h
    total = len(asked)
    return AnalogyScore(
        accuracy=correct / total if total else 0.0,
        correct=correct,
        total=total,
        coverage=total / len(questions),
        sections={s: (c, t) for s, (c, t) in sections.items()},
    )


class SimilarityScore(NamedTuple):
    """Spearman and Pearson correlation between cosine similarities and human scores, over the
    ``pairs`` whose two words are known; ``coverage`` is their share of all pairs."""

    spearman: float
    pearson: float
    pairs: int
    coverage: float


def evaluate_similarity(
    vectors: WordVectors, pairs: Sequence[tuple[str, str, float]]
) -> SimilarityScore:
    """Correlate cosine similarity with human judgements (e.g. SimLex-999), as gensim's
    ``evaluate_word_pairs``: lower-cased words, pairs with an unknown word skipped."""
    from scipy import stats

    if len(pairs) == 0:
        raise ValueError("pairs is empty")
    model, human = [], []
    for w1, w2, score in pairs:
        w1, w2 = w1.lower(), w2.lower()
        if w1 in vectors.index and w2 in vectors.index:
            model.append(float(vectors.unit[vectors.index[w1]] @ vectors.unit[vectors.index[w2]]))
            human.append(float(score))
    if len(model) < 3:
        raise ValueError(f"only {len(model)} of {len(pairs)} pairs have both words known")
    return SimilarityScore(
        spearman=float(stats.spearmanr(human, model).statistic),
        pearson=float(stats.pearsonr(human, model).statistic),
        pairs=len(model),
        coverage=len(model) / len(pairs),
    )


def pca(x: torch.Tensor, k: int = 2) -> torch.Tensor:
    """Project the rows of ``x (n, dim)`` on their top ``k`` principal components → ``(n, k)``.
    Signs are fixed so that each component's largest-magnitude loading is positive."""
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"x must be (n ≥ 2, dim), got {tuple(x.shape)}")
    if not 1 <= k <= min(x.shape):
        raise ValueError(f"k must be in 1..{min(x.shape)}, got {k}")
    centred = x.double() - x.double().mean(0)
    _, _, vt = torch.linalg.svd(centred, full_matrices=False)
    comps = vt[:k]
    signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    return (centred @ (comps * signs).T).to(x.dtype)


# ------------------------------------------------------------------------------ pretrained
def whole_word_vectors(model: Any, tokenizer: Any, pattern: str = r"[a-z]+") -> WordVectors:
    """The rows of a Hugging Face model's input-embedding matrix whose token is a whole word
    (matches ``pattern``: no ``##`` pieces, no ``[CLS]``, no punctuation), in id order."""
    weight = model.get_input_embeddings().weight.detach()
    tokens = tokenizer.convert_ids_to_tokens(list(range(weight.shape[0])))
    keep = [i for i, t in enumerate(tokens) if t is not None and re.fullmatch(pattern, t)]
    if not keep:
        raise ValueError(f"no token of the vocabulary matches {pattern!r}")
    return WordVectors([tokens[i] for i in keep], weight[keep])


@torch.no_grad()
def contextual_vectors(
    sentences: Sequence[str], word: str, model: Any, tokenizer: Any
) -> torch.Tensor:
    """The hidden state of ``word`` in each sentence at every layer of an encoder, float
    ``(n_sentences, n_layers + 1, hidden)``; layer 0 is the embedding layer's output.

    ``word`` must be a single token of the tokenizer and occur in each sentence (the first
    occurrence is used). Put the model in eval mode first (the course's loaders do), or dropout
    makes the vectors random."""
    pieces = tokenizer.tokenize(word)
    if len(pieces) != 1:
        raise ValueError(f"{word!r} is not one token but {pieces}; choose a whole-word token")
    word_id = tokenizer.convert_tokens_to_ids(pieces[0])
    out = []
    for sentence in sentences:
        batch = tokenizer(sentence, return_tensors="pt")
        hits = (batch["input_ids"][0] == word_id).nonzero()
        if len(hits) == 0:
            raise ValueError(f"{word!r} does not occur as a token in {sentence!r}")
        states = model(**batch, output_hidden_states=True).hidden_states  # layers+1 × (1, T, H)
        out.append(torch.stack([h[0, hits[0, 0]] for h in states]))
    return torch.stack(out)
