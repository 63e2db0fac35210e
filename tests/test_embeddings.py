"""utils.embeddings: word2vec pieces, evaluation equal to gensim's, pretrained embeddings."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from utils import data
from utils import embeddings as E

TOY = [
    "the cat sat on the mat".split(),
    "the dog sat on the log".split(),
    "a cat and a dog played".split(),
    "the king and the queen ruled".split(),
] * 30


def test_words_lowercases_and_keeps_apostrophes():
    assert E.words("Don't STOP, 42 cats!") == ["don't", "stop", "cats"]
    with pytest.raises(TypeError, match="str"):
        E.words(["a list"])


def test_vocabulary_orders_by_count_then_alphabet():
    vocab = E.Vocabulary([["b", "a", "b", "c", "a", "b", "d"]], min_count=2)
    assert vocab.words == ["b", "a"]
    assert vocab.counts.tolist() == [3, 2]
    assert vocab["a"] == 1 and "c" not in vocab
    assert vocab.encode(["a", "c", "b"]).tolist() == [1, 0]
    with pytest.raises(KeyError, match="not in the vocabulary"):
        vocab["zebra"]


@pytest.mark.parametrize(
    ("sentences", "kwargs", "error", "match"),
    [
        ("the cat", {}, TypeError, "got a str"),
        (["the cat"], {}, TypeError, "lists of words"),
        ([["a"]], {"min_count": 0}, ValueError, "min_count"),
        ([["a"]], {"min_count": 2}, ValueError, "no word occurs 2 times"),
    ],
)
def test_vocabulary_bad_input(sentences, kwargs, error, match):
    with pytest.raises(error, match=match):
        E.Vocabulary(sentences, **kwargs)


def test_embedding_is_a_one_hot_matrix_product():
    torch.manual_seed(0)
    layer = nn.Embedding(10, 4)
    ids = torch.tensor([[3, 0, 9], [1, 1, 2]])
    torch.testing.assert_close(E.embedding_as_matmul(ids, layer.weight), layer(ids))
    assert E.one_hot(ids, 10).sum(-1).eq(1).all()
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        E.one_hot(torch.tensor([10]), 10)
    with pytest.raises(TypeError, match=r"ids must be integer ids, got dtype torch\.float32"):
        E.one_hot(torch.tensor([1.0]), 10)
    with pytest.raises(ValueError, match="vocab_size"):
        E.one_hot(torch.tensor([1]), 0)


def test_noise_distribution_is_count_to_the_three_quarters():
    counts = torch.tensor([16, 1, 0, 81])
    p = E.noise_distribution(counts)
    expected = torch.tensor([8.0, 1.0, 0.0, 27.0], dtype=torch.float64) / 36
    torch.testing.assert_close(p, expected)


def test_unigram_table_matches_the_noise_distribution():
    counts = torch.tensor([1000, 300, 50, 7, 1])
    table = E.unigram_table(counts, size=10_000)
    assert table.shape == (10_000,) and table.dtype == torch.int64
    share = torch.bincount(table, minlength=5).double() / 10_000
    assert (share > 0).all()  # every word can be drawn
    torch.testing.assert_close(share, E.noise_distribution(counts), atol=1e-4, rtol=0)
    assert table.tolist() == sorted(table.tolist())


def test_unigram_table_sampling_follows_the_distribution():
    counts = torch.tensor([500, 200, 100, 10])
    table = E.unigram_table(counts, size=1000)
    g = torch.Generator().manual_seed(0)
    draws = table[torch.randint(len(table), (200_000,), generator=g)]
    share = torch.bincount(draws, minlength=4).double() / len(draws)
    torch.testing.assert_close(share, E.noise_distribution(counts), atol=5e-3, rtol=0)


@pytest.mark.parametrize(
    ("counts", "size", "match"),
    [
        (torch.tensor([]), 10, "non-empty"),
        (torch.tensor([1, -1]), 10, "≥ 0"),
        (torch.tensor([0, 0]), 10, "positive total"),
        (torch.tensor([1, 2, 3]), 2, "smaller than the vocabulary"),
        (torch.tensor([1, 2]), 0, "positive int"),
    ],
)
def test_unigram_table_bad_input(counts, size, match):
    with pytest.raises(ValueError, match=match):
        E.unigram_table(counts, size=size)


def test_keep_probabilities_follow_word2vec():
    counts = torch.tensor([900, 90, 9, 1])
    keep = E.keep_probabilities(counts, sample=0.01)
    f = counts.double() / counts.sum()
    expected = ((f / 0.01).sqrt() + 1) * 0.01 / f
    torch.testing.assert_close(keep, expected.clamp(max=1))
    assert keep[0] < keep[1] < 1 and keep[-1] == 1
    assert E.keep_probabilities(counts, sample=0).eq(1).all()


def test_skipgram_pairs_full_window_lists_every_neighbour():
    # With a window of 1 every centre's window is exactly 1: the pairs are all neighbours.
    centres, contexts = E.skipgram_pairs([torch.tensor([0, 1, 2])], window=1)
    assert sorted(zip(centres.tolist(), contexts.tolist(), strict=True)) == [
        (0, 1),
        (1, 0),
        (1, 2),
        (2, 1),
    ]


def test_skipgram_pairs_random_window_favours_near_words():
    g = torch.Generator().manual_seed(0)
    sentence = torch.arange(200)
    centres, contexts = E.skipgram_pairs([sentence] * 20, window=4, generator=g)
    distance = Counter((contexts - centres).abs().tolist())
    assert set(distance) == {1, 2, 3, 4}
    # A centre reaches distance d with probability (window - d + 1) / window: 4:3:2:1.
    ratios = [distance[d] / distance[1] for d in (2, 3, 4)]
    assert ratios == pytest.approx([0.75, 0.5, 0.25], abs=0.03)
    assert (centres != contexts).all()


def test_skipgram_pairs_bad_input():
    with pytest.raises(ValueError, match="window"):
        E.skipgram_pairs([torch.tensor([0, 1])], window=0)
    with pytest.raises(ValueError, match="1-D"):
        E.skipgram_pairs([torch.zeros(2, 2, dtype=torch.long)], window=2)
    centres, _ = E.skipgram_pairs([torch.tensor([5])], window=2)
    assert centres.numel() == 0
    with pytest.raises(ValueError, match=r"\[0, 3\) to index keep"):
        E.skipgram_pairs([torch.tensor([0, 7])], window=2, keep=torch.ones(3))


def test_skipgram_loss_matches_the_formula():
    torch.manual_seed(0)
    model = E.SkipGram(6, 3)
    nn.init.normal_(model.out_embed.weight)
    centre, context, negatives = (
        torch.tensor([1, 2]),
        torch.tensor([3, 4]),
        torch.tensor([[0, 5], [1, 1]]),
    )
    v, u = model.in_embed.weight.detach(), model.out_embed.weight.detach()
    expected = 0.0
    for b in range(2):
        expected -= math.log(torch.sigmoid(u[context[b]] @ v[centre[b]]))
        for n in negatives[b]:
            expected -= math.log(torch.sigmoid(-u[n] @ v[centre[b]]))
    assert model(centre, context, negatives).item() == pytest.approx(expected / 2, rel=1e-5)
    with pytest.raises(ValueError, match="negatives must be"):
        model(centre, context, negatives[0])
    with pytest.raises(ValueError, match="centre and context"):
        model(centre, context[:1], negatives)
    with pytest.raises(ValueError, match="dim"):
        E.SkipGram(5, 0)


def test_word2vec_loss_decreases_on_a_toy_corpus():
    result = E.train_word2vec(
        TOY,
        dim=16,
        window=2,
        min_count=1,
        sample=0,
        epochs=30,
        batch_size=64,
        lr=0.02,
        log_every=10,
        progress=False,
    )
    first, last = result.losses[0], result.losses[-1]
    assert last < 0.75 * first, (first, last)
    assert len(result.vectors) == len(result.vocab) == 13
    # "cat" and "dog" share every context; "cat" and "ruled" share none.
    assert result.vectors.similarity("cat", "dog") > result.vectors.similarity("cat", "ruled")


def test_word2vec_is_deterministic():
    runs = [
        E.train_word2vec(TOY, dim=8, min_count=1, epochs=2, batch_size=32, progress=False)
        for _ in range(2)
    ]
    torch.testing.assert_close(runs[0].vectors.vectors, runs[1].vectors.vectors, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"negative": 0}, "negative"),
        ({"epochs": 0}, "epochs"),
        ({"min_count": 9999}, "no word"),
        ({"batch_size": 0}, "batch_size"),
        ({"log_every": 0}, "log_every"),
        ({"lr": 0.0}, "lr must be a number > 0, got 0.0"),
    ],
)
def test_word2vec_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        E.train_word2vec(TOY, progress=False, **kwargs)


def test_word2vec_leaves_the_global_rng_alone():
    """The seed fixes the run whatever the caller's random state, which it leaves as it was."""
    kwargs = dict(dim=8, min_count=1, epochs=1, batch_size=32, progress=False, seed=3)
    runs = []
    for caller_seed in (1, 2):
        torch.manual_seed(caller_seed)
        state = torch.get_rng_state()
        runs.append(E.train_word2vec(TOY, **kwargs))
        assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(runs[0].vectors.vectors, runs[1].vectors.vectors, rtol=0, atol=0)
    other = E.train_word2vec(TOY, **(kwargs | {"seed": 4}))
    assert not torch.equal(other.model.in_embed.weight, runs[0].model.in_embed.weight)


def test_word2vec_rejects_text_instead_of_word_lists():
    with pytest.raises(TypeError, match="lists of words"):
        E.train_word2vec(["the cat sat"], progress=False)


# ------------------------------------------------------------------------------ queries
@pytest.fixture(scope="module")
def toy_vectors():
    g = torch.Generator().manual_seed(1)
    words = [f"w{i}" for i in range(300)] + ["king", "man", "woman", "queen"]
    return E.WordVectors(words, torch.randn(len(words), 20, generator=g))


def test_most_similar_and_analogy(toy_vectors):
    wv = toy_vectors
    top = wv.most_similar("w3", k=3)
    assert len(top) == 3 and "w3" not in [w for w, _ in top]
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)
    assert wv.most_similar(wv["w3"], k=1)[0] == ("w3", pytest.approx(1.0, abs=1e-4))
    # Make queen exactly king - man + woman: the analogy must find it.
    unit = nn.functional.normalize
    queen = unit(wv["king"], dim=0) - unit(wv["man"], dim=0) + unit(wv["woman"], dim=0)
    wv2 = E.WordVectors(wv.words, torch.cat([wv.vectors[:-1], queen[None]]))
    assert wv2.analogy("man", "king", "woman")[0][0] == "queen"
    with pytest.raises(KeyError, match="not among"):
        wv.analogy("man", "king", "zebra")
    with pytest.raises(ValueError, match="query must be"):
        wv.most_similar(torch.zeros(3))
    with pytest.raises(ValueError, match="unique"):
        E.WordVectors(["a", "a"], torch.zeros(2, 3))
    # Excluded words that are not in the vocabulary do not cost results.
    assert len(wv.most_similar("w3", k=5, exclude=["zebra", "yak"])) == 5
    with pytest.raises(ValueError, match="k must be"):
        wv.most_similar("w3", k=0)
    with pytest.raises(ValueError, match="every word is excluded"):
        E.WordVectors(["a", "b"], torch.eye(2)).most_similar("a", exclude=["b"])


@pytest.fixture(scope="module")
def trained():
    sentences = [E.words(t) for t in data.news_corpus()]
    return E.train_word2vec(sentences, dim=32, epochs=1, min_count=5, progress=False)


def _gensim_vectors(wv):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(wv.vectors.shape[1])
    kv.add_vectors(wv.words, wv.vectors.numpy())
    return kv


def test_analogy_accuracy_equals_gensims(tmp_path, encoder):
    # The pretrained encoder's embeddings answer many questions right, so equality is a real check.
    wv = E.whole_word_vectors(*encoder)
    questions = [
        q for q in data.analogy_questions() if q.section in ("family", "gram3-comparative")
    ]
    path = tmp_path / "questions.txt"
    lines = []
    for section in ("family", "gram3-comparative"):
        lines.append(f": {section}")
        lines += [" ".join(q[:4]) for q in questions if q.section == section]
    path.write_text("\n".join(lines) + "\n")
    ours = E.evaluate_analogies(wv, questions)
    score, sections = _gensim_vectors(wv).evaluate_word_analogies(str(path))
    total = sections[-1]
    assert ours.correct == len(total["correct"]) > 100
    assert ours.total == len(total["correct"]) + len(total["incorrect"])
    assert ours.accuracy == pytest.approx(score)
    assert sum(t for _, t in ours.sections.values()) == ours.total
    assert 0 < ours.coverage <= 1


def test_similarity_equals_gensims(tmp_path, trained):
    pairs = data.simlex999()
    path = tmp_path / "simlex.txt"
    path.write_text("".join(f"{a}\t{b}\t{s}\n" for a, b, s in pairs))
    ours = E.evaluate_similarity(trained.vectors, pairs)
    pearson, spearman, oov = _gensim_vectors(trained.vectors).evaluate_word_pairs(str(path))
    # float32 cosines computed in a different order: equal to about 1e-6, not bit for bit.
    assert ours.spearman == pytest.approx(spearman.statistic, abs=1e-4)
    assert ours.pearson == pytest.approx(pearson.statistic, abs=1e-4)
    assert ours.coverage == pytest.approx(1 - oov / 100)


def test_evaluations_bad_input(toy_vectors):
    with pytest.raises(ValueError, match="empty"):
        E.evaluate_analogies(toy_vectors, [])
    with pytest.raises(ValueError, match="pairs have both words"):
        E.evaluate_similarity(toy_vectors, [("zebra", "yak", 1.0)])
    result = E.evaluate_analogies(toy_vectors, [("a", "b", "c", "d")])
    assert result.total == 0 and result.coverage == 0


def test_pca_matches_numpy_svd():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 6, generator=g, dtype=torch.float64) * torch.tensor([5, 3, 1, 1, 1, 1])
    y = E.pca(x, 2)
    centred = (x - x.mean(0)).numpy()
    _, s, _ = np.linalg.svd(centred, full_matrices=False)
    # Projections carry the variance of the two largest singular values, and are uncorrelated.
    np.testing.assert_allclose((y**2).sum(0).numpy(), s[:2] ** 2, rtol=1e-10)
    assert abs(float(y[:, 0] @ y[:, 1])) < 1e-8
    with pytest.raises(ValueError, match="k must be"):
        E.pca(x, 7)


# ------------------------------------------------------------------------------ pretrained
def test_whole_word_vectors_are_rows_of_the_embedding_matrix(encoder):
    model, tokenizer = encoder
    wv = E.whole_word_vectors(model, tokenizer)
    assert 20_000 < len(wv) < 30_522
    assert all(w.isalpha() and w.islower() for w in wv.words[::500])
    king = tokenizer.convert_tokens_to_ids("king")
    torch.testing.assert_close(wv["king"], model.get_input_embeddings().weight[king].detach())
    assert wv.analogy("man", "king", "woman")[0][0] == "queen"


def test_contextual_vectors_read_the_words_own_position(encoder):
    """The vectors are the hidden states at the first "bank", found here independently from
    the tokens, at a different position in each sentence (and not the sentence's first or last
    token), for every layer."""
    model, tokenizer = encoder
    sentences = [
        "The bank approved the loan, said the bank.",  # two of them: the first counts
        "We sat on the grass by the bank of the river.",
        "Bank holidays are quiet.",
    ]
    out = E.contextual_vectors(sentences, "bank", model, tokenizer)
    for i, sentence in enumerate(sentences):
        tokens = tokenizer.convert_ids_to_tokens(tokenizer(sentence)["input_ids"])
        position = tokens.index("bank")  # [CLS] is token 0
        assert 0 < position < len(tokens) - 1
        with torch.no_grad():
            states = model(**tokenizer(sentence, return_tensors="pt"), output_hidden_states=True)
        expected = torch.stack([h[0, position] for h in states.hidden_states])
        torch.testing.assert_close(out[i], expected)
        # ... and no other position would do: each gives other vectors at the last layer.
        others = torch.cat(
            [states.hidden_states[-1][0, :position], states.hidden_states[-1][0, position + 1 :]]
        )
        assert not torch.isclose(others, out[i, -1]).all(dim=-1).any()
    assert [
        tokenizer(s)["input_ids"].index(tokenizer.convert_tokens_to_ids("bank")) for s in sentences
    ] == [2, 8, 1]


def test_contextual_vectors_shapes_and_errors(encoder):
    model, tokenizer = encoder
    sentences = ["The bank approved the loan.", "We sat on the bank of the river."]
    out = E.contextual_vectors(sentences, "bank", model, tokenizer)
    layers = model.config.num_hidden_layers + 1
    assert out.shape == (2, layers, model.config.hidden_size)
    # The last layer depends on context, so the two "bank" vectors differ.
    assert not torch.allclose(out[0, -1], out[1, -1])
    with pytest.raises(ValueError, match="does not occur"):
        E.contextual_vectors(["No such word here."], "bank", model, tokenizer)
    with pytest.raises(ValueError, match="does not occur"):  # "banking" is one token, not "bank"
        E.contextual_vectors(["The banking sector."], "bank", model, tokenizer)
    with pytest.raises(ValueError, match="not one token"):
        E.contextual_vectors(sentences, "unbelievability", model, tokenizer)
