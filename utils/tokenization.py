"""Tokenizers from scratch: word-level, character-level, and byte-level BPE.

* :class:`WordTokenizer` and :class:`CharTokenizer` keep the most frequent words or characters of
  a training text and map everything else to one unknown token, ``<unk>``.
* :class:`BPETokenizer` is a byte-level Byte-Pair-Encoding tokenizer, the kind GPT-2 and most
  current LLMs use. It starts from the 256 possible bytes, so it can encode *any* string with no
  unknown token, and learns merges of frequent adjacent pairs::

      tok = BPETokenizer().train(text, vocab_size=1256)   # 1,000 merges
      ids = tok.encode("Hello, world!")                   # list[int]
      assert tok.decode(ids) == "Hello, world!"

Training is deterministic: among equally frequent pairs the smallest ``(left_id, right_id)`` wins.
"""

from __future__ import annotations

import heapq
import itertools
import json
import operator
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from .validation import check_choice, check_int, check_type

#: Pre-tokenization used by default: words with the single space before them (" world"), and
#: runs of other whitespace. Merges never cross these chunks. Concatenating the chunks gives back
#: the text exactly, whatever it is.
DEFAULT_PATTERN = r" ?\S+|\s+(?!\S)|\s+"

UNK = "<unk>"


def _check_text(text: object) -> None:
    check_type("text", text, str, "a str")


def _texts(texts: str | Iterable[str]) -> list[str]:
    texts = [texts] if isinstance(texts, str) else list(texts)
    for t in texts:
        _check_text(t)
    return texts


# ----------------------------------------------------------------------------- word and char


class _CountedVocabulary:
    """Shared by the word and character tokenizers: the most frequent units, then ``<unk>``."""

    def __init__(self) -> None:
        self.itos: list[str] = []
        self.stoi: dict[str, int] = {}

    def _units(self, text: str) -> list[str]:
        raise NotImplementedError

    def _join(self, units: list[str]) -> str:
        raise NotImplementedError

    def fit(self, texts: str | Iterable[str], max_size: int | None = None) -> _CountedVocabulary:
        """Keep the ``max_size - 1`` most frequent units of ``texts`` (all if ``None``) + ``<unk>``.

        Ties in frequency are broken alphabetically, so fitting is deterministic.
        """
        if max_size is not None:
            check_int("max_size", max_size, minimum=2)  # room for <unk> and one unit
        counts = Counter(u for t in _texts(texts) for u in self._units(t))
        ranked = sorted(counts, key=lambda u: (-counts[u], u))
        if max_size is not None:
            ranked = ranked[: max_size - 1]
        self.itos = [UNK, *ranked]
        self.stoi = {u: i for i, u in enumerate(self.itos)}
        return self

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """Ids of the text's units; unknown units become ``0`` (``<unk>``)."""
        _check_text(text)
        if not self.itos:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(texts) first")
        return [self.stoi.get(u, 0) for u in self._units(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Units for the ids (``<unk>`` stays ``<unk>``: what was unknown is lost)."""
        for i in ids:
            if not isinstance(i, int) or not 0 <= i < len(self.itos):
                raise ValueError(f"id {i!r} is out of range for a vocabulary of {len(self.itos)}")
        return self._join([self.itos[i] for i in ids])


class WordTokenizer(_CountedVocabulary):
    """Words and punctuation marks as tokens, lower-cased: "Don't stop!" becomes don ' t stop !"""

    _pattern = re.compile(r"\w+|[^\w\s]")

    def _units(self, text: str) -> list[str]:
        return self._pattern.findall(text.lower())

    def _join(self, units: list[str]) -> str:
        return " ".join(units)


class CharTokenizer(_CountedVocabulary):
    """Single characters as tokens (case kept): a tiny vocabulary and long sequences."""

    def _units(self, text: str) -> list[str]:
        return list(text)

    def _join(self, units: list[str]) -> str:
        return "".join(units)


# ----------------------------------------------------------------------------- byte-level BPE


def pretokenize(text: str, pattern: str = DEFAULT_PATTERN) -> list[str]:
    """Split ``text`` into the chunks BPE works inside; ``"".join`` of the result is ``text``."""
    _check_text(text)
    chunks = re.findall(pattern, text)
    if "".join(chunks) != text:
        raise ValueError(f"pattern {pattern!r} does not cover every character of the text")
    return chunks


def to_bytes(text: str) -> bytes:
    """UTF-8, letting lone surrogates through (Python strings may hold them; UTF-8 may not)."""
    return text.encode("utf-8", errors="surrogatepass")


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each non-overlapping occurrence of ``pair`` in ``ids`` (left to right) by ``new_id``.

    >>> merge([1, 2, 3, 1, 2], (1, 2), 9)
    [9, 3, 9]
    """
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _pairs(ids: Sequence[int]) -> Iterable[tuple[int, int]]:
    return itertools.pairwise(ids)


def _train_naive(words: list[list[int]], counts: list[int], merges_wanted: int):
    """Recount every pair of every word after each merge: simple, and slow."""
    merges = []
    for step in range(merges_wanted):
        pair_counts: Counter = Counter()
        for ids, c in zip(words, counts, strict=True):
            for p in _pairs(ids):
                pair_counts[p] += c
        if not pair_counts:
            break
        best = min(pair_counts, key=lambda p: (-pair_counts[p], p))
        new_id = 256 + step
        words = [merge(ids, best, new_id) if len(ids) > 1 else ids for ids in words]
        merges.append(best)
    return merges


def _train_fast(words: list[list[int]], counts: list[int], merges_wanted: int):
    """Count pairs once, then after each merge update only the words that contained the pair.

    A heap holds ``(-count, pair)``; entries go stale when a count changes, and a stale entry is
    skipped when it reaches the top (its pair is pushed again with the new count).
    """
    pair_counts: defaultdict = defaultdict(int)
    where: defaultdict = defaultdict(set)  # pair -> indices of words that contain it
    for w, (ids, c) in enumerate(zip(words, counts, strict=True)):
        for p in _pairs(ids):
            pair_counts[p] += c
            where[p].add(w)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < merges_wanted and heap:
        neg, best = heapq.heappop(heap)
        if pair_counts.get(best, 0) != -neg or -neg <= 0:
            continue  # stale entry
        new_id = 256 + len(merges)
        changed = set()
        for w in sorted(where.pop(best)):
            ids, c = words[w], counts[w]
            for p in _pairs(ids):  # take the word's old pairs out...
                pair_counts[p] -= c
                changed.add(p)
            ids = words[w] = merge(ids, best, new_id)
            for p in _pairs(ids):  # ...and its new pairs in
                pair_counts[p] += c
                where[p].add(w)
                changed.add(p)
        pair_counts.pop(best, None)
        for p in changed:
            count = pair_counts.get(p, 0)
            if count > 0:
                heapq.heappush(heap, (-count, p))
            else:
                pair_counts.pop(p, None)
        merges.append(best)
    return merges


class BPETokenizer:
    """Byte-level BPE: 256 byte tokens plus one token per learned merge.

    Parameters
    ----------
    pattern:
        The pre-tokenization regex (see :func:`pretokenize`); merges never cross its chunks.
    """

    def __init__(self, pattern: str = DEFAULT_PATTERN) -> None:
        re.compile(pattern)  # fail early on a bad regex
        self.pattern = pattern
        self.merges: list[tuple[int, int]] = []
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
        self.trained = False
        self._reset_cache()

    def _reset_cache(self) -> None:
        self._cache: dict[str, list[int]] = {}
        self._ranks: dict[tuple[int, int], int] | None = None

    # -- training --------------------------------------------------------------------------
    def train(
        self, texts: str | Iterable[str], vocab_size: int, *, method: str = "fast"
    ) -> BPETokenizer:
        """Learn ``vocab_size - 256`` merges from ``texts`` (a string or strings); returns self.

        ``method="fast"`` updates pair counts incrementally; ``"naive"`` recounts everything after
        each merge. Both learn exactly the same merges. Training stops early if no pair is left.
        """
        if check_int("vocab_size", vocab_size) < 256:
            raise ValueError(
                f"vocab_size must be an int >= 256 (the 256 byte tokens come first), "
                f"got {vocab_size}"
            )
        check_choice("method", method, ("fast", "naive"))
        chunk_counts: Counter = Counter()
        for t in _texts(texts):
            chunk_counts.update(pretokenize(t, self.pattern))
        chunks = sorted(chunk_counts)  # a fixed order: training is deterministic
        words = [list(to_bytes(c)) for c in chunks]
        counts = [chunk_counts[c] for c in chunks]
        trainer = _train_fast if method == "fast" else _train_naive
        self.merges = trainer(words, counts, vocab_size - 256)
        self.vocab = {i: bytes([i]) for i in range(256)}
        for i, (a, b) in enumerate(self.merges):
            self.vocab[256 + i] = self.vocab[a] + self.vocab[b]
        self.trained = True
        self._reset_cache()
        return self

    @property
    def vocab_size(self) -> int:
        return 256 + len(self.merges)

    # -- encoding and decoding -------------------------------------------------------------
    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = list(to_bytes(chunk))
        while len(ids) > 1:
            # the pair that was merged earliest in training goes first
            rank, pair = min((self._ranks.get(p, 1 << 62), p) for p in _pairs(ids))
            if rank == 1 << 62:
                break
            ids = merge(ids, pair, 256 + rank)
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids for ``text``: pre-tokenize, then apply the merges in the order learned."""
        _check_text(text)
        if not self.trained:
            raise RuntimeError("this BPETokenizer is not trained: call train() or load() first")
        if self._ranks is None:
            self._ranks = {p: r for r, p in enumerate(self.merges)}
        out: list[int] = []
        for chunk in pretokenize(text, self.pattern):
            ids = self._cache.get(chunk)
            if ids is None:
                ids = self._cache[chunk] = self._encode_chunk(chunk)
            out.extend(ids)
        return out

    def decode(self, ids: Sequence[int]) -> str:
        """The text for ``ids``: join their bytes and decode UTF-8.

        ``decode(encode(s)) == s`` for every string. A list of ids that cuts a multi-byte
        character in half (possible when you pick ids by hand) decodes with ``�`` in its place.
        """
        ids = [self._check_id(i) for i in ids]
        data = b"".join(self.vocab[i] for i in ids)
        try:
            return data.decode("utf-8", errors="surrogatepass")
        except UnicodeDecodeError:
            return data.decode("utf-8", errors="replace")

    def _check_id(self, i: object) -> int:
        if isinstance(i, bool):
            raise TypeError(f"token ids are integers, got {i!r}")
        try:
            i = operator.index(i)  # accepts int, numpy and torch integers; refuses floats
        except TypeError:
            raise TypeError(f"token ids are integers, got {type(i).__name__} {i!r}") from None
        if not 0 <= i < 256 + len(self.merges):
            raise ValueError(
                f"id {i} is out of range: this tokenizer has ids 0..{255 + len(self.merges)}"
            )
        return i

    def token_bytes(self, i: int) -> bytes:
        """The bytes token ``i`` stands for."""
        return self.vocab[self._check_id(i)]

    def truncated(self, num_merges: int) -> BPETokenizer:
        """A copy that keeps only the first ``num_merges`` merges (a smaller vocabulary)."""
        if not 0 <= check_int("num_merges", num_merges) <= len(self.merges):
            raise ValueError(f"num_merges must be in 0..{len(self.merges)}, got {num_merges}")
        copy = BPETokenizer(self.pattern)
        copy.merges = self.merges[:num_merges]
        copy.vocab = {i: self.vocab[i] for i in range(256 + num_merges)}
        copy.trained = self.trained
        copy._reset_cache()
        return copy

    # -- saving ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the tokenizer as JSON (pattern and merges; the vocabulary follows from them)."""
        if not self.trained:
            raise RuntimeError("this BPETokenizer is not trained: nothing to save")
        path = Path(path)
        payload = {
            "format": "course-bpe",
            "version": 1,
            "pattern": self.pattern,
            "merges": [list(m) for m in self.merges],
        }
        path.write_text(json.dumps(payload))
        return path

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Read a tokenizer written by :meth:`save`."""
        payload = json.loads(Path(path).read_text())
        if not isinstance(payload, dict) or payload.get("format") != "course-bpe":
            raise ValueError(f"{path} is not a tokenizer saved by BPETokenizer.save")
        if payload.get("version") != 1 or not isinstance(payload.get("pattern"), str):
            raise ValueError(f"{path}: unsupported version or missing pattern")
        merges = payload.get("merges")
        if not isinstance(merges, list) or not all(
            isinstance(m, list) and len(m) == 2 and all(type(x) is int for x in m) for m in merges
        ):
            raise ValueError(f"{path}: merges must be a list of [int, int] pairs")
        tok = cls(payload["pattern"])
        tok.merges = [tuple(m) for m in merges]
        if len(set(tok.merges)) != len(tok.merges):
            raise ValueError(f"{path}: a merge appears twice")
        for i, (a, b) in enumerate(tok.merges):
            if not (0 <= a < 256 + i and 0 <= b < 256 + i):
                raise ValueError(f"merge {i} refers to a token that does not exist yet: {(a, b)}")
            tok.vocab[256 + i] = tok.vocab[a] + tok.vocab[b]
        tok.trained = True
        tok._reset_cache()
        return tok

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BPETokenizer):
            return NotImplemented
        return (self.pattern, self.merges, self.trained) == (
            other.pattern,
            other.merges,
            other.trained,
        )

    def __repr__(self) -> str:
        state = f"{len(self.merges)} merges" if self.trained else "untrained"
        return f"BPETokenizer(vocab_size={self.vocab_size}, {state})"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte, as used by byte-level BPE vocabularies.

    Printable bytes stand for themselves; the others (space, control bytes, ...) are shifted to
    characters from 256 on, so the space byte 32 shows as ``"Ġ"`` and newline 10 as ``"Ċ"``.
    """
    keep = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping, extra = {}, 0
    for b in range(256):
        if b in keep:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def unicode_to_bytes(token: str) -> bytes:
    """Inverse of :func:`bytes_to_unicode` for a whole token: ``"Ġworld"`` → ``b" world"``."""
    inverse = {c: b for b, c in bytes_to_unicode().items()}
    try:
        return bytes(inverse[c] for c in token)
    except KeyError as error:
        raise ValueError(f"{token!r} is not a byte-level token ({error.args[0]!r})") from None


def compression(tokenizer: object, texts: Sequence[str], unk_id: int | None = None) -> dict:
    """How a tokenizer cuts ``texts``: tokens per 1,000 characters, bytes per token, unknown rate.

    ``tokenizer`` is anything with ``encode(text) -> list[int]``. ``unk_id`` is the id of the
    unknown token, if it has one (``0`` for :class:`WordTokenizer` and :class:`CharTokenizer`).
    Returns ``{"tokens", "tokens_per_kchar", "bytes_per_token", "unk_rate"}``.
    """
    texts = _texts(texts)
    ids = [i for t in texts for i in tokenizer.encode(t)]
    chars = sum(len(t) for t in texts)
    nbytes = sum(len(to_bytes(t)) for t in texts)
    if not ids:
        raise ValueError("the texts produced no tokens")
    unknown = sum(i == unk_id for i in ids) if unk_id is not None else 0
    return {
        "tokens": len(ids),
        "tokens_per_kchar": 1000 * len(ids) / chars,
        "bytes_per_token": nbytes / len(ids),
        "unk_rate": unknown / len(ids),
    }


def train_huggingface_bpe(texts: str | Iterable[str], vocab_size: int):
    """Hugging Face ``tokenizers``' byte-level BPE, trained like :class:`BPETokenizer`, to compare.

    Same start (the 256 bytes), same vocabulary size, GPT-2's pre-tokenization (``ByteLevel``).
    Returns a ``tokenizers.Tokenizer``; :func:`huggingface_vocabulary` lists its tokens as bytes.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_texts(texts), trainer)
    return tokenizer


def huggingface_vocabulary(tokenizer) -> set[bytes]:
    """The tokens of a byte-level ``tokenizers.Tokenizer`` as bytes (``"Ġthe"`` → ``b" the"``)."""
    return {unicode_to_bytes(token) for token in tokenizer.get_vocab()}
