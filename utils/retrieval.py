"""Finding documents for a query, and measuring how well it worked.

* :class:`BM25` is the classic lexical ranking function (Robertson et al., the Okapi system):
  a document scores high when it contains the query's words, more so for rare words, with
  diminishing returns for repeats and a penalty for long documents::

      score(D, Q) = Σ_{q in Q} IDF(q) · f(q, D) · (k1 + 1) / (f(q, D) + k1 · norm(D))
      norm(D)     = 1 - b + b · |D| / avgdl
      IDF(q)      = ln(1 + (N - n(q) + 0.5) / (n(q) + 0.5))

  with ``f(q, D)`` the count of word ``q`` in ``D``, ``|D|`` its length in words, ``avgdl`` the
  mean length, ``N`` the number of documents and ``n(q)`` how many contain ``q`` (this IDF is
  Lucene's, which is never negative).
* :func:`ranks`, :func:`retrieval_metrics`: where the right document lands in each query's
  ranking; recall@k (the share of queries whose right document is in the top ``k``) and the
  mean reciprocal rank (MRR, the mean of 1 / rank).

Dense retrieval (chapter 06) scores with the dot product of unit-length embeddings, which is
their cosine similarity: ``queries @ documents.T`` gives the same kind of score matrix.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

import torch


def words(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: ``"The U.N. said 2,000"`` →
    ``['the', 'u', 'n', 'said', '2', '000']``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return re.findall(r"[a-z0-9]+", text.lower())


class BM25:
    """BM25 over a fixed list of documents (see the module's docstring for the formula).

    ``BM25(documents, k1=1.5, b=0.75)``; ``scores(query)`` → float64 ``(num_documents,)``;
    ``score_matrix(queries)`` → ``(num_queries, num_documents)``. ``k1`` sets how fast repeats
    of a word stop adding to the score (0: only presence counts); ``b`` how much long documents
    are penalised (0: not at all, 1: fully).
    """

    def __init__(
        self,
        documents: Sequence[str],
        k1: float = 1.5,
        b: float = 0.75,
        tokenize: Callable[[str], list[str]] = words,
    ) -> None:
        if isinstance(documents, str) or not all(isinstance(d, str) for d in documents):
            raise TypeError("documents must be a list of strings")
        if len(documents) == 0:
            raise ValueError("documents is empty")
        if not k1 >= 0 or not 0 <= b <= 1:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1, self.b, self.tokenize = k1, b, tokenize
        self.counts = [Counter(tokenize(d)) for d in documents]  # f(q, D) per document
        self.lengths = torch.tensor([sum(c.values()) for c in self.counts], dtype=torch.float64)
        self.avgdl = max(float(self.lengths.mean()), 1e-9)
        n_containing = Counter(word for c in self.counts for word in c)  # n(q)
        n = len(documents)
        self.idf = {w: math.log(1 + (n - m + 0.5) / (m + 0.5)) for w, m in n_containing.items()}

    def __len__(self) -> int:
        return len(self.counts)

    def scores(self, query: str) -> torch.Tensor:
        """The score of every document for ``query``: float64 ``(num_documents,)``."""
        norm = self.k1 * (1 - self.b + self.b * self.lengths / self.avgdl)  # (N,)
        total = torch.zeros(len(self.counts), dtype=torch.float64)
        for q in set(self.tokenize(query)):  # each distinct query word once
            if q not in self.idf:
                continue  # in no document: adds nothing anywhere
            f = torch.tensor([c[q] for c in self.counts], dtype=torch.float64)
            term = self.idf[q] * f * (self.k1 + 1) / (f + norm)
            total += torch.where(f > 0, term, 0.0)  # no word, no score (and no 0 / 0)
        return total

    def score_matrix(self, queries: Sequence[str]) -> torch.Tensor:
        """``(num_queries, num_documents)`` scores, one row per query."""
        if isinstance(queries, str):
            raise TypeError("queries must be a list of strings (wrap a single one: [query])")
        return torch.stack([self.scores(q) for q in queries])


def ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The rank (1 = best) of each query's right document: ``scores`` ``(queries, documents)``,
    ``targets`` int ``(queries,)`` → int64 ``(queries,)``.

    Ties count against the right document: its rank is 1 + the number of *other* documents
    scoring at least as high, so a method that gives every document the same score ranks the
    right one last, not first.
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2:
        raise ValueError(
            f"scores must be (queries, documents), got {getattr(scores, 'shape', scores)}"
        )
    if not isinstance(targets, torch.Tensor) or targets.shape != (scores.shape[0],):
        raise ValueError(
            f"targets must be ({scores.shape[0]},), one document index per query, got "
            f"{getattr(targets, 'shape', targets)}"
        )
    if targets.numel() and not 0 <= targets.min() <= targets.max() < scores.shape[1]:
        raise ValueError(f"targets must be document indices in [0, {scores.shape[1]})")
    if scores.is_floating_point() and scores.isnan().any():
        raise ValueError("scores contain NaN: a ranking needs comparable numbers")
    right = scores.gather(1, targets.long()[:, None])  # (queries, 1)
    at_least = (scores >= right).sum(1)  # includes the right document itself
    return at_least.long()


def retrieval_metrics(
    scores: torch.Tensor, targets: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> dict[str, float]:
    """``{"recall@1": ..., "recall@5": ..., "MRR": ...}`` for a score matrix and the index of
    each query's right document (one right document per query)."""
    r = ranks(scores, targets).double()
    out = {f"recall@{k}": float((r <= k).double().mean()) for k in ks}
    out["MRR"] = float((1.0 / r).mean())
    return out
