"""utils.transformer, utils.decoding, utils.seq2seq: equal to PyTorch's layers, causal,
padding-invariant, beam search of width 1 is greedy, clear errors."""

import math

import pytest
import torch
from torch import nn

from utils import attention as A
from utils import decoding as D
from utils import seq2seq as S
from utils import transformer as T

DTYPES = [torch.float32, torch.float64]


def _ids(rows, width, pad=0):
    """Right-padded id rows of the given lengths, ids from 4 up."""
    out = torch.full((len(rows), width), pad, dtype=torch.long)
    g = torch.Generator().manual_seed(len(rows) * width)
    for i, n in enumerate(rows):
        out[i, :n] = torch.randint(4, 20, (n,), generator=g)
    return out


# ---------------------------------------------------------------- equivalence with PyTorch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_equals_pytorch(norm_first, dtype):
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(
        32, 4, 64, dropout=0.1, batch_first=True, norm_first=norm_first, dtype=dtype
    ).eval()
    ours = T.EncoderLayer.from_torch(ref).eval()
    x = torch.randn(3, 7, 32, dtype=dtype)
    torch.testing.assert_close(ours(x), ref(x))
    ids = _ids([7, 5, 3], 7)
    real = ids != 0
    expected = ref(x, src_key_padding_mask=~real)  # PyTorch: True = ignore
    torch.testing.assert_close(ours(x, A.padding_mask(ids, 0))[real], expected[real])
    assert ours.self_weights.shape == (3, 4, 7, 7)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_equals_pytorch(norm_first, dtype):
    torch.manual_seed(0)
    ref = nn.TransformerDecoderLayer(
        32, 4, 64, dropout=0.1, batch_first=True, norm_first=norm_first, dtype=dtype
    ).eval()
    ours = T.DecoderLayer.from_torch(ref).eval()
    y, memory = torch.randn(3, 5, 32, dtype=dtype), torch.randn(3, 7, 32, dtype=dtype)
    src = _ids([7, 5, 3], 7)
    causal = A.causal_mask(5)
    expected = ref(y, memory, tgt_mask=~causal, memory_key_padding_mask=src == 0)
    torch.testing.assert_close(ours(y, memory, causal, A.padding_mask(src, 0)), expected)
    assert ours.cross_weights.shape == (3, 4, 5, 7)
    assert (ours.cross_weights[2, :, :, 3:] == 0).all()  # padding in the source gets no weight


def test_layer_gradients_equal_pytorch():
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True, dtype=torch.float64)
    ours = T.EncoderLayer.from_torch(ref)
    x = torch.randn(2, 4, 16, dtype=torch.float64)
    ours(x).square().sum().backward()
    ref(x).square().sum().backward()
    torch.testing.assert_close(ours.ff.linear1.weight.grad, ref.linear1.weight.grad)
    torch.testing.assert_close(ours.norm1.weight.grad, ref.norm1.weight.grad)


def test_from_torch_rejects_what_it_cannot_copy():
    with pytest.raises(TypeError, match="TransformerEncoderLayer"):
        T.EncoderLayer.from_torch(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="batch_first"):
        T.EncoderLayer.from_torch(nn.TransformerEncoderLayer(8, 2, 16))
    with pytest.raises(ValueError, match="ReLU"):
        T.DecoderLayer.from_torch(
            nn.TransformerDecoderLayer(8, 2, 16, batch_first=True, activation="gelu")
        )


# -------------------------------------------------------------------------- the whole model
def _model(**kwargs):
    torch.manual_seed(0)
    options = dict(d_model=32, num_heads=4, num_layers=2, d_ff=64, dropout=0.1)
    return T.Transformer(20, 24, **(options | kwargs)).eval()


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_is_causal(norm_first):
    model = _model(norm_first=norm_first)
    src, tgt = _ids([6, 4], 6), _ids([5, 5], 5)
    changed = tgt.clone()
    changed[:, 3] = 7  # change a later target token
    a, b = model(src, tgt), model(src, changed)
    torch.testing.assert_close(a[:, :3], b[:, :3])  # earlier positions do not move
    assert not torch.allclose(a[:, 3:], b[:, 3:])


def test_padding_does_not_change_outputs_at_real_positions():
    model = _model()
    src, tgt = _ids([6, 4], 6), _ids([5, 3], 5)
    padded_src = torch.cat([src, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    padded_tgt = torch.cat([tgt, torch.zeros(2, 2, dtype=torch.long)], dim=1)
    a, b = model(src, tgt), model(padded_src, padded_tgt)
    torch.testing.assert_close(b[:, :5], a)
    # one sentence alone, without any padding, gives the same outputs as inside the batch
    alone = model(src[1:, :4], tgt[1:, :3])
    torch.testing.assert_close(alone, a[1:, :3])


def test_tied_and_shared_embeddings_count_once():
    untied = T.count_parameters(_model())
    tied = T.count_parameters(_model(tie_output=True))
    assert untied["total"] - tied["total"] == 24 * 32  # the output matrix is the target table
    assert untied["total"] == sum(p.numel() for p in _model().parameters())
    torch.manual_seed(0)
    shared = T.Transformer(20, 20, d_model=32, num_heads=4, share_embeddings=True)
    assert shared.src_embed.tokens.weight is shared.tgt_embed.tokens.weight
    with pytest.raises(ValueError, match="share_embeddings"):
        T.Transformer(20, 24, share_embeddings=True)


def test_embedding_scale_and_bad_ids():
    model = _model()
    assert model.src_embed.scale == math.sqrt(32)
    with pytest.raises(ValueError, match=r"\[0, 20\)"):
        model(torch.tensor([[25, 1]]), torch.tensor([[1]]))
    with pytest.raises(ValueError, match="batch, seq"):
        model(torch.tensor([4, 5]), torch.tensor([[1]]))
    with pytest.raises(ValueError, match="batch size"):
        memory, mask = model.encode(_ids([3, 3], 3))
        model.decode(torch.tensor([[1]]), memory, mask)
    with pytest.raises(ValueError, match="divisible"):
        T.Transformer(10, 10, d_model=30, num_heads=4)


def test_feed_forward_is_position_wise():
    torch.manual_seed(0)
    ff = T.FeedForward(8, 32)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(ff(x)[:, 2], ff(x[:, 2]))
    with pytest.raises(ValueError, match="d_ff"):
        T.FeedForward(8, 0)


# ----------------------------------------------------------------------------------- decoding
def test_beam_of_one_equals_greedy():
    model = _model()
    src = _ids([6, 4, 5], 6)
    greedy = D.greedy_decode(model, src, bos_id=1, eos_id=2, max_len=8)
    beams, scores = D.beam_search(model, src, bos_id=1, eos_id=2, beam_size=1, max_len=8)
    assert beams.shape[:2] == (3, 1) and scores.shape == (3, 1)
    torch.testing.assert_close(beams[:, 0], greedy)


class _Table(nn.Module):
    """A fake model with fixed next-token probabilities, chosen so that greedy goes wrong:
    after <bos>, "a" (0.6) beats "b" (0.4), but every continuation of "a" is unsure (0.3 at
    best) while "b" is followed by <eos> for sure. Ids: 0 pad, 1 bos, 2 eos, 3 a, 4 b, 5 c."""

    pad_id = 0

    def encode(self, src):
        return torch.zeros(src.shape[0], 1, 1), torch.ones(src.shape[0], 1, 1, dtype=torch.bool)

    def decode(self, tgt, memory, src_mask):
        probs = torch.full((tgt.shape[0], tgt.shape[1], 6), 1e-9)
        last = tgt[:, -1]
        probs[last == 1, -1, 3], probs[last == 1, -1, 4] = 0.6, 0.4
        probs[last == 3, -1, 2], probs[last == 3, -1, 5] = 0.3, 0.7 / 2
        probs[last == 3, -1, 3] = 0.7 / 2
        probs[last == 4, -1, 2] = 1.0
        probs[(last == 5) | (last == 2) | (last == 0), -1, 2] = 1.0
        return probs.log()


def test_beam_search_fixes_greedy_mistake_on_a_known_table():
    src = torch.ones(1, 1, dtype=torch.long)
    greedy = D.greedy_decode(_Table(), src, bos_id=1, eos_id=2, max_len=5)
    assert greedy[0, 0].item() == 3  # greedy takes "a" (0.6) ...
    beams, scores = D.beam_search(_Table(), src, bos_id=1, eos_id=2, beam_size=2, max_len=5)
    assert beams[0, 0, :2].tolist() == [4, 2]  # ... beam search finds "b <eos>" (0.4 > 0.6·0.35)
    assert scores[0, 0].item() == pytest.approx(math.log(0.4), abs=1e-6)
    assert scores[0, 0] >= scores[0, 1]


def test_length_penalty_prefers_longer_outputs():
    src = torch.ones(1, 1, dtype=torch.long)
    plain, _ = D.beam_search(_Table(), src, bos_id=1, eos_id=2, beam_size=3, max_len=5)
    long, _ = D.beam_search(
        _Table(), src, bos_id=1, eos_id=2, beam_size=3, max_len=5, length_penalty=5.0
    )

    def length(row):
        return int((row != 0).sum())

    assert length(long[0, 0]) > length(plain[0, 0])


def test_decoding_errors():
    model = _model()
    with pytest.raises(ValueError, match="batch, seq"):
        D.greedy_decode(model, torch.tensor([4, 5]), bos_id=1, eos_id=2)
    with pytest.raises(ValueError, match="beam_size"):
        D.beam_search(model, _ids([3], 3), bos_id=1, eos_id=2, beam_size=0)
    with pytest.raises(ValueError, match="max_len"):
        D.greedy_decode(model, _ids([3], 3), bos_id=1, eos_id=2, max_len=0)
    with pytest.raises(ValueError, match="eos_id must be"):
        D.greedy_decode(model, _ids([3], 3), bos_id=1, eos_id=None)
    with pytest.raises(ValueError, match="must differ"):
        D.beam_search(model, _ids([3], 3), bos_id=2, eos_id=2)
    for bad in (-0.5, float("inf"), float("nan"), "1"):
        with pytest.raises(ValueError, match="length_penalty"):
            D.beam_search(model, _ids([3], 3), bos_id=1, eos_id=2, length_penalty=bad)
    assert D.exact_match(["a", "b"], ["a", "c"]) == 0.5
    with pytest.raises(ValueError, match="equally long"):
        D.exact_match(["a"], ["a", "b"])


# ------------------------------------------------------------------------------------ seq2seq
def test_words_round_trip_and_number_pairs():
    assert S.words("twenty-one thousand, two") == ["twenty", "-", "one", "thousand", ",", "two"]
    for text in ["quatre-vingt-dix-neuf mille", "one thousand, nine hundred"]:
        assert S.join_words(S.words(text)) == text
    assert S.number_pairs([321, 71]) == [
        ("three hundred and twenty-one", "trois cent vingt et un"),
        ("seventy-one", "soixante et onze"),
    ]
    with pytest.raises(ValueError, match="non-negative"):
        S.number_pairs([-1])


def test_number_split_is_disjoint_and_repeatable():
    train, test = S.number_split(200, 50, high=1000, seed=3)
    assert len(train) == 200 and len(test) == 50 and not set(train) & set(test)
    assert (train, test) == S.number_split(200, 50, high=1000, seed=3)
    with pytest.raises(ValueError, match="n_train"):
        S.number_split(900, 200, high=1000)


def test_vocab_and_batches():
    vocab = S.WordVocab(["vingt et un", "vingt-deux"])
    assert vocab.itos[:4] == list(S.SPECIALS) and len(vocab) == 4 + 5
    ids = vocab.encode("vingt-deux", bos=True)
    assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id
    assert vocab.decode(ids) == "vingt-deux"
    assert vocab.decode(vocab.encode("cent un")) == "<unk> un"  # unknown words stay visible
    assert vocab.decode([vocab.bos_id, vocab.pad_id, 5, vocab.eos_id, 6]) == vocab.itos[5]
    batch = S.encode_batch(["vingt et un", "un"], vocab)
    assert batch.shape == (2, 4) and batch[1, 2:].tolist() == [vocab.pad_id] * 2


def test_noam_schedule_peaks_at_warmup():
    rates = [S.noam_lr(s, d_model=512, warmup=4000) for s in range(1, 20_001)]
    assert max(range(len(rates)), key=rates.__getitem__) + 1 == 4000
    assert rates[3999] == pytest.approx(512**-0.5 * 4000**-0.5)
    with pytest.raises(ValueError, match="start at 1"):
        S.noam_lr(0, 512)
    with pytest.raises(ValueError, match="warmup must be at least 1"):
        S.noam_lr(1, 512, warmup=0)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="factor"):
            S.noam_lr(1, 512, factor=bad)


def test_training_learns_a_tiny_translation_task():
    pairs = S.number_pairs(range(30))
    src_vocab = S.WordVocab(s for s, _ in pairs)
    tgt_vocab = S.WordVocab(t for _, t in pairs)
    data = S.make_data(pairs, src_vocab, tgt_vocab)
    torch.manual_seed(0)
    model = T.Transformer(
        len(src_vocab), len(tgt_vocab), d_model=32, num_heads=2, d_ff=64, dropout=0.0
    )
    losses = S.train_seq2seq(model, data, steps=150, batch_size=30, warmup=30, desc=None)
    assert losses[-1] < 0.5 * losses[0]
    out = D.greedy_decode(model, data.src, bos_id=1, eos_id=2, max_len=10)
    predicted = [tgt_vocab.decode(row) for row in out]
    assert D.exact_match(predicted, data.targets) > 0.9  # it memorises 30 pairs
    assert not model.training
    for bad, match in (
        (dict(steps=0), "steps"),
        (dict(steps=1, batch_size=0), "batch_size"),
        (dict(steps=1, warmup=0), "warmup"),
        (dict(steps=1, label_smoothing=1.0), "label_smoothing"),
        (dict(steps=1, factor=-1.0), "factor"),
    ):
        with pytest.raises(ValueError, match=match):
            S.train_seq2seq(model, data, desc=None, **bad)


def test_number_task_and_translate():
    task = S.number_task(n_train=40, n_test=10, high=200, seed=1)
    assert task.train.src.shape[0] == 40 and task.test.tgt.shape[0] == 10
    assert not set(task.train_numbers) & set(task.test_numbers)
    assert task.tgt_vocab.decode(task.train.tgt[0, 1:]) == task.train.targets[0]
    shared = S.number_task(n_train=40, n_test=10, high=200, seed=1, shared_vocab=True)
    assert shared.src_vocab is shared.tgt_vocab and "cent" in shared.src_vocab.stoi
    torch.manual_seed(0)
    model = T.Transformer(
        len(task.src_vocab), len(task.tgt_vocab), d_model=16, num_heads=2, d_ff=32
    ).eval()
    greedy = D.translate(model, task.test.src, task.tgt_vocab)
    assert len(greedy) == 10 and all(isinstance(t, str) for t in greedy)
    ids = dict(bos_id=task.tgt_vocab.bos_id, eos_id=task.tgt_vocab.eos_id, max_len=40)
    beams, _ = D.beam_search(model, task.test.src, beam_size=1, **ids)
    assert [task.tgt_vocab.decode(row) for row in beams[:, 0]] == greedy
    assert len(D.translate(model, task.test.src, task.tgt_vocab, beam_size=3)) == 10
    with pytest.raises(ValueError, match="no effect on greedy"):
        D.translate(model, task.test.src, task.tgt_vocab, length_penalty=1.0)
