"""utils.retrieval (BM25 against a hand computation, ranks with ties, recall@k and MRR) and
utils.stats (the Wilson interval against known values)."""

import math

import pytest
import torch

from utils import retrieval as R
from utils import stats

DOCS = [
    "the cat sat on the mat",
    "the dog sat",
    "cats and dogs and cats and dogs and more cats",
]


def test_words():
    assert R.words("The U.N. said 2,000") == ["the", "u", "n", "said", "2", "000"]
    with pytest.raises(TypeError):
        R.words(3)


def test_bm25_equals_the_formula_by_hand():
    bm25 = R.BM25(DOCS, k1=1.2, b=0.75)
    lengths = [6, 3, 10]
    avgdl = sum(lengths) / 3
    # "sat" is in documents 0 and 1 (n = 2 of N = 3), once each
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    expected = [
        idf * 1 * 2.2 / (1 + 1.2 * (1 - 0.75 + 0.75 * n / avgdl)) if i < 2 else 0.0
        for i, n in enumerate(lengths)
    ]
    torch.testing.assert_close(bm25.scores("sat"), torch.tensor(expected, dtype=torch.float64))
    # a query is a sum over its distinct words; unknown words add nothing
    torch.testing.assert_close(
        bm25.scores("sat cat sat unicorn"), bm25.scores("sat") + bm25.scores("cat")
    )
    assert bm25.score_matrix(["sat", "cats"]).shape == (2, 3)
    assert len(bm25) == 3


def test_bm25_behaviour():
    bm25 = R.BM25(DOCS)
    s = bm25.scores("sat")
    assert s[1] > s[0] > 0 == s[2]  # the shorter document with the word wins
    rare, common = R.BM25(DOCS).idf["mat"], R.BM25(DOCS).idf["the"]
    assert rare > common > 0
    presence_only = R.BM25(DOCS, k1=0.0)
    assert presence_only.scores("cats")[2] == presence_only.scores("mat")[0] * (
        presence_only.idf["cats"] / presence_only.idf["mat"]
    )


def test_bm25_edge_cases_give_numbers_not_nan():
    presence_only = R.BM25(["the cat sat", "dog", ""], k1=0.0).scores("cat")
    assert presence_only[0] > 0 and presence_only[1:].tolist() == [0.0, 0.0]
    full_length_norm = R.BM25(["the cat sat", "dog", ""], b=1.0).scores("cat")
    assert not full_length_norm.isnan().any() and full_length_norm[2] == 0.0


def test_bm25_rejects_bad_input():
    with pytest.raises(TypeError):
        R.BM25("one string")
    with pytest.raises(ValueError, match="empty"):
        R.BM25([])
    with pytest.raises(ValueError, match="k1"):
        R.BM25(DOCS, b=2)
    with pytest.raises(TypeError):
        R.BM25(DOCS).score_matrix("a query")


def test_ranks_and_metrics():
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.0],  # right document 0: rank 1
            [0.5, 0.2, 0.7],  # right document 1: rank 3
            [0.3, 0.3, 0.3],  # all tied: rank 3, not 1
        ]
    )
    targets = torch.tensor([0, 1, 2])
    assert R.ranks(scores, targets).tolist() == [1, 3, 3]
    m = R.retrieval_metrics(scores, targets, ks=(1, 3))
    assert m["recall@1"] == pytest.approx(1 / 3)
    assert m["recall@3"] == pytest.approx(1.0)
    assert m["MRR"] == pytest.approx((1 + 1 / 3 + 1 / 3) / 3)


def test_ranks_rejects_bad_shapes():
    with pytest.raises(ValueError, match="queries, documents"):
        R.ranks(torch.zeros(3), torch.tensor([0]))
    with pytest.raises(ValueError, match="one document index per query"):
        R.ranks(torch.zeros(2, 3), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        R.ranks(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="NaN"):
        R.ranks(torch.tensor([[float("nan"), 1.0]]), torch.tensor([0]))


def test_wilson_interval_known_values():
    low, high = stats.wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.2775, abs=1e-4)
    low, high = stats.wilson_interval(50, 100)
    assert (low, high) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    low, high = stats.wilson_interval(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4) and high == pytest.approx(1.0)
    narrow, wide = stats.wilson_interval(50, 100, 0.5), stats.wilson_interval(50, 100, 0.99)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((5, 0), ValueError),
        ((11, 10), ValueError),
        ((1.0, 10), TypeError),
        ((1, 10, 1.0), ValueError),
    ],
)
def test_wilson_interval_rejects_bad_input(args, error):
    with pytest.raises(error):
        stats.wilson_interval(*args)
