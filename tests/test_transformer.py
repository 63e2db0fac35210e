"""utils.transformer, utils.decoding, utils.seq2seq: equal to PyTorch's layers and stacks,
causal, padding-invariant; beam search of width 1 is greedy, batched beam search is beam search
row by row, and an exhaustive beam finds what enumerating every output finds; clear errors."""

import itertools
import math

import pytest
import torch
from torch import nn

from utils import attention as A
from utils import decoding as D
from utils import seq2seq as S
from utils import tasks
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


def _perturbed(module):
    """PyTorch's stacks deep-copy one layer: make every layer (and the final norm) different,
    so that a stack that mixed up its layers, or skipped one, would be caught."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module.eval()


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_stack_equals_pytorchs(norm_first):
    """3 layers; pre-LN ends with a final LayerNorm (PyTorch's ``norm=``), post-LN does not."""
    torch.manual_seed(0)
    d, dtype = 32, torch.float64
    layer = nn.TransformerEncoderLayer(
        d, 4, 64, dropout=0.1, batch_first=True, norm_first=norm_first, dtype=dtype
    )
    final = nn.LayerNorm(d, dtype=dtype) if norm_first else None
    ref = _perturbed(nn.TransformerEncoder(layer, 3, norm=final, enable_nested_tensor=False))
    ours = T.Encoder(3, d, 4, 64, dropout=0.1, norm_first=norm_first)
    ours.layers = nn.ModuleList(T.EncoderLayer.from_torch(theirs) for theirs in ref.layers)
    if norm_first:
        ours.norm.load_state_dict(ref.norm.state_dict())
    else:
        assert isinstance(ours.norm, nn.Identity)
    ours = ours.to(dtype).eval()
    x = torch.randn(3, 7, d, dtype=dtype)
    torch.testing.assert_close(ours(x), ref(x))
    ids = _ids([7, 5, 3], 7)
    real = ids != 0
    expected = ref(x, src_key_padding_mask=~real)
    torch.testing.assert_close(ours(x, A.padding_mask(ids, 0))[real], expected[real])


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_stack_equals_pytorchs(norm_first):
    torch.manual_seed(0)
    d, dtype = 32, torch.float64
    layer = nn.TransformerDecoderLayer(
        d, 4, 64, dropout=0.1, batch_first=True, norm_first=norm_first, dtype=dtype
    )
    final = nn.LayerNorm(d, dtype=dtype) if norm_first else None
    ref = _perturbed(nn.TransformerDecoder(layer, 3, norm=final))
    ours = T.Decoder(3, d, 4, 64, dropout=0.1, norm_first=norm_first)
    ours.layers = nn.ModuleList(T.DecoderLayer.from_torch(theirs) for theirs in ref.layers)
    if norm_first:
        ours.norm.load_state_dict(ref.norm.state_dict())
    ours = ours.to(dtype).eval()
    y, memory = torch.randn(3, 5, d, dtype=dtype), torch.randn(3, 7, d, dtype=dtype)
    src = _ids([7, 5, 3], 7)
    causal = A.causal_mask(5)
    expected = ref(y, memory, tgt_mask=~causal, memory_key_padding_mask=src == 0)
    torch.testing.assert_close(ours(y, memory, causal, A.padding_mask(src, 0)), expected)


def test_from_torch_rejects_what_it_cannot_copy():
    with pytest.raises(TypeError, match=r"layer must be a nn\.TransformerEncoderLayer, got Linear"):
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
    assert list(untied) == ["src_embed", "tgt_embed", "encoder", "decoder", "lm_head", "total"]
    assert untied["lm_head"] == 32 * 24 + 24 and tied["lm_head"] == 24  # tied: the bias only
    assert untied["total"] - tied["total"] == 24 * 32  # the output matrix is the target table
    model = _model(tie_output=True)
    assert model.lm_head.weight is model.tgt_embed.tokens.weight
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
    with pytest.raises(TypeError, match=r"tgt must be an int64 tensor \(batch, seq\)"):
        memory, mask = model.encode(_ids([3], 3))
        model.decode(torch.ones(1, 1), memory, mask)
    with pytest.raises(ValueError, match="pad_id must be a non-negative int, got -1"):
        T.Transformer(10, 10, pad_id=-1)


def test_token_embedding_and_lm_head_names():
    """``TokenEmbedding`` (not ``Embedding``, which reads as ``nn.Embedding``) and ``lm_head``
    (not ``generator``, which reads as a ``torch.Generator``)."""
    model = _model()
    assert isinstance(model.src_embed, T.TokenEmbedding) and not hasattr(T, "Embedding")
    assert isinstance(model.src_embed.tokens, nn.Embedding)
    assert isinstance(model.lm_head, nn.Linear) and not hasattr(model, "generator")
    assert "lm_head.weight" in model.state_dict()
    src, tgt = _ids([6, 4], 6), _ids([5, 3], 5)
    memory, src_mask = model.encode(src)
    hidden = model.decoder(
        model.tgt_embed(tgt), memory, A.causal_mask(5) & A.padding_mask(tgt, 0), src_mask
    )
    torch.testing.assert_close(model(src, tgt), model.lm_head(hidden))


def test_a_checkpoint_saved_with_the_old_generator_name_still_loads():
    saved = _model().state_dict()
    old = {k.replace("lm_head.", "generator."): v for k, v in saved.items()}
    assert "generator.weight" in old and "lm_head.weight" not in old
    torch.manual_seed(1)
    fresh = T.Transformer(20, 24, d_model=32, num_heads=4, num_layers=2, d_ff=64).eval()
    assert not torch.equal(fresh.lm_head.weight, saved["lm_head.weight"])
    fresh.load_state_dict(old)  # strict: every key is matched
    torch.testing.assert_close(fresh.lm_head.weight, saved["lm_head.weight"], rtol=0, atol=0)
    torch.testing.assert_close(fresh.lm_head.bias, saved["lm_head.bias"], rtol=0, atol=0)


def test_feed_forward_is_position_wise():
    torch.manual_seed(0)
    ff = T.FeedForward(8, 32)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(ff(x)[:, 2], ff(x[:, 2]))
    with pytest.raises(ValueError, match="d_ff"):
        T.FeedForward(8, 0)


# ----------------------------------------------------------------------------------- decoding
def test_decoding_needs_eval_mode():
    """In training mode dropout would make each step random: a clear error, not noisy output."""
    model = _model().train()
    src = _ids([6, 4], 6)
    ids = dict(bos_id=1, eos_id=2, max_len=5)
    with pytest.raises(
        ValueError, match=r"greedy_decode needs the model in eval mode.*model\.eval\(\)"
    ):
        D.greedy_decode(model, src, **ids)
    with pytest.raises(ValueError, match=r"beam_search needs the model in eval mode"):
        D.beam_search(model, src, **ids)
    vocab = S.WordVocab(["un deux"])
    with pytest.raises(ValueError, match="eval mode"):
        D.translate(model, src, vocab)
    assert model.training  # the mode is the caller's to choose: left as it was
    assert D.greedy_decode(model.eval(), src, **ids).shape[0] == 2


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
    greedy = D.greedy_decode(_Table().eval(), src, bos_id=1, eos_id=2, max_len=5)
    assert greedy[0, 0].item() == 3  # greedy takes "a" (0.6) ...
    beams, scores = D.beam_search(_Table().eval(), src, bos_id=1, eos_id=2, beam_size=2, max_len=5)
    assert beams[0, 0, :2].tolist() == [4, 2]  # ... beam search finds "b <eos>" (0.4 > 0.6·0.35)
    assert scores[0, 0].item() == pytest.approx(math.log(0.4), abs=1e-6)
    assert scores[0, 0] >= scores[0, 1]


def _float64_model(tgt_vocab, seed=0):
    """A random model in float64, so that sums of log-probabilities compare tightly."""
    torch.manual_seed(seed)
    options = dict(d_model=16, num_heads=2, num_layers=1, d_ff=32, dropout=0.0)
    return T.Transformer(20, tgt_vocab, **options).to(torch.float64).eval()


def _padded(seqs, width, pad_id=0):
    """``(..., length)`` → ``(..., width)``, padded on the right."""
    return nn.functional.pad(seqs, (0, width - seqs.shape[-1]), value=pad_id)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_batched_beam_search_equals_beam_search_row_by_row(length_penalty):
    model = _float64_model(12)
    lengths = [6, 4, 5, 2]
    src = _ids(lengths, 6)
    kwargs = dict(bos_id=1, eos_id=2, beam_size=3, max_len=7, length_penalty=length_penalty)
    seqs, scores = D.beam_search(model, src, **kwargs)
    assert seqs.shape[:2] == scores.shape == (4, 3)
    for i, n in enumerate(lengths):
        alone, alone_scores = D.beam_search(model, src[i : i + 1, :n], **kwargs)  # no padding
        assert alone.shape[-1] <= seqs.shape[-1]
        assert torch.equal(_padded(alone[0], seqs.shape[-1]), seqs[i])
        torch.testing.assert_close(alone_scores[0], scores[i])
    assert len({tuple(row.flatten().tolist()) for row in seqs}) == 4  # the rows do differ


def _every_output(model, src, *, bos_id, eos_id, max_len, length_penalty):
    """Brute force: every output of at most ``max_len`` tokens (stopping at ``eos_id``) of one
    source row ``(1, seq_s)``, as ``{ids padded to max_len: score}``, scored as beam search
    scores them: the sum of log-probabilities, divided by ((5 + length) / 6) ** alpha."""
    memory, src_mask = model.encode(src)
    vocab = model.lm_head.out_features
    outputs = {}
    for length in range(1, max_len + 1):
        for ids in itertools.product(range(vocab), repeat=length):
            if eos_id in ids[:-1] or (length < max_len and ids[-1] != eos_id):
                continue  # an output stops at its first <eos>, and only there
            tgt = torch.tensor([[bos_id, *ids[:-1]]])
            logp = model.decode(tgt, memory, src_mask)[0].log_softmax(-1)  # (length, vocab)
            total = logp[torch.arange(length), torch.tensor(ids)].sum().item()
            row = (*ids, *[model.pad_id] * (max_len - length))
            outputs[row] = total / ((5 + length) / 6) ** length_penalty
    return outputs


@pytest.mark.parametrize("length_penalty", [0.0, 1.5])
def test_exhaustive_beam_search_finds_the_best_outputs_of_brute_force(length_penalty):
    """With 5 tokens and 3 steps there are at most 5³ = 125 outputs: a beam of 125 keeps them
    all, so its ranking must be exactly the brute-force ranking of every possible output."""
    model = _float64_model(5)
    src = _ids([5, 3], 5)
    ids = dict(bos_id=1, eos_id=2, max_len=3, length_penalty=length_penalty)
    with torch.no_grad():
        seqs, scores = D.beam_search(model, src, beam_size=125, **ids)
        for i in range(2):
            every = _every_output(model, src[i : i + 1, : [5, 3][i]], **ids)
            best = sorted(every.items(), key=lambda item: -item[1])
            found = scores[i].isfinite()
            assert found.sum() == len(every) == 1 + 4 + 4 * 4 * 5  # <eos>; a <eos>; a b c
            for (row, score), beam, beam_score in zip(best, seqs[i], scores[i], strict=False):
                assert tuple(beam.tolist()) == row
                assert beam_score.item() == pytest.approx(score, rel=1e-6)  # lengths: float32
            # a beam of 4 is not exhaustive, but each output it returns has its true score
            small, small_scores = D.beam_search(model, src[i : i + 1], beam_size=4, **ids)
            for beam, beam_score in zip(small[0], small_scores[0], strict=True):
                row = tuple(_padded(beam, 3).tolist())
                assert beam_score.item() == pytest.approx(every[row], rel=1e-6)


def test_length_penalty_prefers_longer_outputs():
    src = torch.ones(1, 1, dtype=torch.long)
    plain, _ = D.beam_search(_Table().eval(), src, bos_id=1, eos_id=2, beam_size=3, max_len=5)
    long, _ = D.beam_search(
        _Table().eval(), src, bos_id=1, eos_id=2, beam_size=3, max_len=5, length_penalty=5.0
    )

    def length(row):
        return int((row != 0).sum())

    assert length(long[0, 0]) > length(plain[0, 0])


def test_decoding_errors():
    model = _model()
    with pytest.raises(
        ValueError, match=r"src must be \(batch, seq\) of token ids, got shape \(2,\)"
    ):
        D.greedy_decode(model, torch.tensor([4, 5]), bos_id=1, eos_id=2)
    with pytest.raises(TypeError, match="src must be a tensor"):
        D.greedy_decode(model, [[4, 5]], bos_id=1, eos_id=2)
    with pytest.raises(ValueError, match="beam_size must be a positive int, got 0"):
        D.beam_search(model, _ids([3], 3), bos_id=1, eos_id=2, beam_size=0)
    with pytest.raises(ValueError, match="max_len must be a positive int, got 0"):
        D.greedy_decode(model, _ids([3], 3), bos_id=1, eos_id=2, max_len=0)
    with pytest.raises(TypeError, match="eos_id must be a non-negative int, got NoneType"):
        D.greedy_decode(model, _ids([3], 3), bos_id=1, eos_id=None)
    with pytest.raises(ValueError, match="bos_id must be a non-negative int, got -1"):
        D.greedy_decode(model, _ids([3], 3), bos_id=-1, eos_id=2)
    with pytest.raises(ValueError, match="must differ"):
        D.beam_search(model, _ids([3], 3), bos_id=2, eos_id=2)
    for bad in (-0.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="length_penalty must be a"):
            D.beam_search(model, _ids([3], 3), bos_id=1, eos_id=2, length_penalty=bad)
    with pytest.raises(TypeError, match="length_penalty must be a number >= 0, got str"):
        D.beam_search(model, _ids([3], 3), bos_id=1, eos_id=2, length_penalty="1")
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
    with pytest.raises(ValueError, match="warmup must be a positive int, got 0"):
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


def test_the_number_task_lives_in_tasks_and_is_still_in_seq2seq():
    for name in ("number_pairs", "number_split", "NumberTask", "number_task"):
        assert getattr(S, name) is getattr(tasks, name)
    assert S.NumberTask.__module__ == "utils.tasks"
    task = tasks.number_task(n_train=5, n_test=2, high=20, seed=0)
    assert isinstance(task.train, S.Seq2SeqData) and isinstance(task.src_vocab, S.WordVocab)
    with pytest.raises(TypeError, match=r"numbers\[1\] must be a non-negative int, got float"):
        tasks.number_pairs([3, 4.0])
    with pytest.raises(ValueError, match="n_test must be a positive int, got 0"):
        tasks.number_split(5, 0)


def test_train_seq2seq_device(monkeypatch):
    """``device=None`` reads COURSE_DEVICE (the CPU by default); the same losses on the CPU
    whichever way it is asked for, and the model stays where it was."""
    pairs = S.number_pairs(range(10))
    vocab = S.WordVocab(text for pair in pairs for text in pair)
    data = S.make_data(pairs, vocab, vocab)

    def run(**kwargs):
        torch.manual_seed(0)
        model = T.Transformer(len(vocab), len(vocab), d_model=16, num_heads=2, d_ff=32)
        losses = S.train_seq2seq(model, data, steps=3, batch_size=4, desc=None, **kwargs)
        return model, losses

    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    model, default = run()
    assert run(device="cpu")[1] == default  # dropout 0.1 too: the same random numbers
    assert next(model.parameters()).device.type == "cpu" and not model.training
    if not torch.cuda.is_available():
        monkeypatch.setenv("COURSE_DEVICE", "cuda")
        with pytest.raises(ValueError, match="COURSE_DEVICE"):
            run()


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
    ids = dict(bos_id=task.tgt_vocab.bos_id, eos_id=task.tgt_vocab.eos_id, max_len=40)
    out = D.greedy_decode(model, task.test.src, **ids)
    assert greedy == [task.tgt_vocab.decode(row) for row in out] and len(greedy) == 10
    beams, _ = D.beam_search(model, task.test.src, beam_size=1, **ids)
    assert [task.tgt_vocab.decode(row) for row in beams[:, 0]] == greedy
    beams, _ = D.beam_search(model, task.test.src, beam_size=3, **ids)
    assert D.translate(model, task.test.src, task.tgt_vocab, beam_size=3) == [
        task.tgt_vocab.decode(row) for row in beams[:, 0]
    ]
    with pytest.raises(ValueError, match="no effect on greedy"):
        D.translate(model, task.test.src, task.tgt_vocab, length_penalty=1.0)
