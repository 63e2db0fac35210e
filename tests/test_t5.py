"""utils.t5: the relative position buckets (equal to transformers'), span corruption (round trip,
noise share, repeatability, T5's mask shape), whole random T5s equal to
T5ForConditionalGeneration (ReLU and tied, gated GELU and untied, inner_dim != d_model, unequal
depths, padded batches), encode/decode, greedy decoding equal to generate(), the export back to
transformers, and bad input."""

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertModel, T5ForConditionalGeneration, T5Model
from transformers import T5Config as HFT5Config
from transformers.models.t5.modeling_t5 import T5Attention as HFT5Attention
from transformers.models.t5.modeling_t5 import T5LayerNorm as HFT5LayerNorm

from utils import t5 as T

SENTINELS = list(range(1000, 1100))


# ------------------------------------------------------------------------ relative positions
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize(("num_buckets", "max_distance"), [(32, 128), (8, 12), (10, 50), (16, 9)])
def test_relative_position_bucket_equals_transformers(bidirectional, num_buckets, max_distance):
    positions = torch.cat([torch.arange(-300, 301), torch.tensor([-(10**6), 10**6, 2**40])])
    grid = positions[None, :] - torch.arange(0, 40)[:, None]  # (40, len): key - query
    ours = T.relative_position_bucket(
        grid, bidirectional=bidirectional, num_buckets=num_buckets, max_distance=max_distance
    )
    theirs = HFT5Attention._relative_position_bucket(
        grid, bidirectional=bidirectional, num_buckets=num_buckets, max_distance=max_distance
    )
    assert ours.dtype == torch.int64 and ours.shape == grid.shape
    assert torch.equal(ours, theirs)
    assert 0 <= ours.min() and ours.max() < num_buckets
    small = grid[:, :-1]  # without 2**40, which int32 cannot hold
    int32 = T.relative_position_bucket(
        small.int(), bidirectional=bidirectional, num_buckets=num_buckets, max_distance=max_distance
    )
    assert int32.dtype == torch.int64 and torch.equal(int32, ours[:, :-1])


def test_relative_position_bucket_layout():
    d = torch.arange(-200, 201)
    b = T.relative_position_bucket(d)  # T5's defaults: 32 buckets, max_distance 128
    assert torch.equal(b[193:201].flip(0), torch.arange(8))  # 0 .. -7: exact, one bucket each
    assert torch.equal(b[201:209], torch.arange(17, 25))  # +1 .. +8: the other half
    assert (b[d <= -128] == 15).all() and (b[d >= 128] == 31).all()  # "far"
    assert (b.diff()[:200] <= 0).all()  # closer to the query: the same bucket or a lower one
    causal = T.relative_position_bucket(d, bidirectional=False)
    assert (causal[d >= 0] == 0).all()  # the future shares bucket 0 with the query itself
    assert torch.equal(causal[200 - 15 : 201].flip(0), torch.arange(16))  # exact for 0 .. 15
    assert (causal[d <= -128] == 31).all()


def test_relative_position_bucket_bad_input():
    with pytest.raises(TypeError, match="integer tensor"):
        T.relative_position_bucket(torch.zeros(3))
    with pytest.raises(TypeError, match="tensor"):
        T.relative_position_bucket([1, 2])
    with pytest.raises(ValueError, match="num_buckets"):
        T.relative_position_bucket(torch.arange(3), num_buckets=2)
    with pytest.raises(ValueError, match="max_distance"):
        T.relative_position_bucket(torch.arange(3), num_buckets=32, max_distance=16)


# ------------------------------------------------------------------------ span corruption
def _check_structure(tokens, inputs, targets, sentinels=SENTINELS):
    """Sentinels in order in inputs, one per span in targets plus a final one, nothing lost."""
    in_sentinels = [t for t in inputs if t in sentinels]
    k = len(in_sentinels)
    assert in_sentinels == sentinels[:k]
    assert [t for t in targets if t in sentinels] == sentinels[: k + 1]
    assert targets[0] == sentinels[0] and targets[-1] == sentinels[k]
    assert len(inputs) - k + len(targets) - (k + 1) == len(tokens)
    assert T.fill_spans(inputs, targets, sentinels) == tokens


@pytest.mark.parametrize("density", [0.15, 0.5, 0.8])
def test_span_corruption_round_trip(density):
    g = torch.Generator().manual_seed(0)
    for length in [*range(1, 41), 97, 256]:
        for _ in range(5):
            tokens = torch.randint(0, 1000, (length,), generator=g).tolist()
            inputs, targets = T.span_corruption(
                tokens, noise_density=density, sentinel_ids=SENTINELS, generator=g
            )
            _check_structure(tokens, inputs, targets)


def test_span_corruption_example():
    tokens = list(range(10))
    inputs, targets = T.span_corruption(
        tokens, sentinel_ids=[100, 101, 102], generator=torch.Generator().manual_seed(3)
    )
    # 10 tokens: round(1.5) = 2 noise tokens in round(2 / 3) = 1 span, which ends the sequence
    assert inputs == [*range(8), 100]
    assert targets == [100, 8, 9, 101]
    # one token: left as it is (T5 pads the length to 2 and the noise falls on the padding)
    assert T.span_corruption([7], sentinel_ids=[100]) == ([7], [100])


def test_random_spans_noise_mask_follows_t5():
    g = torch.Generator().manual_seed(0)
    for length in [2, 3, 10, 57, 500]:
        for density, mean in [(0.15, 3.0), (0.3, 1.0), (0.5, 8.0), (0.9, 2.0)]:
            mask = T.random_spans_noise_mask(length, density, mean, generator=g)
            num_noise = min(max(round(length * density), 1), length - 1)
            num_spans = min(max(round(num_noise / mean), 1), length - num_noise)
            starts = [i for i in range(length) if mask[i] and (i == 0 or not mask[i - 1])]
            assert len(mask) == length and sum(mask) == num_noise
            assert len(starts) == num_spans
            assert not mask[0] and mask[-1]  # kept first, noise last
    # the segmentation is random: many different masks, all with the same counts
    masks = {tuple(T.random_spans_noise_mask(100, generator=g)) for _ in range(50)}
    assert len(masks) > 40


def test_span_corruption_noise_share_and_span_length():
    g = torch.Generator().manual_seed(1)
    tokens = list(range(5000))
    for density, mean in [(0.15, 3.0), (0.25, 5.0), (0.5, 2.0)]:
        inputs, targets = T.span_corruption(
            tokens,
            noise_density=density,
            mean_span_length=mean,
            sentinel_ids=list(range(-2500, 0)),
            generator=g,
        )
        spans = sum(t < 0 for t in inputs)
        noise = len(targets) - spans - 1
        assert abs(noise / len(tokens) - density) < 0.001
        assert abs(noise / spans - mean) < 0.01


def test_span_corruption_is_repeatable():
    tokens = list(range(200))

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return T.span_corruption(tokens, sentinel_ids=SENTINELS, generator=g)

    assert run(0) == run(0)
    assert run(0) != run(1)
    torch.manual_seed(5)
    first = T.span_corruption(tokens, sentinel_ids=SENTINELS)
    torch.manual_seed(5)
    assert T.span_corruption(tokens, sentinel_ids=SENTINELS) == first  # the global generator


def test_span_corruption_bad_input():
    ok = dict(sentinel_ids=SENTINELS)
    with pytest.raises(ValueError, match="empty"):
        T.span_corruption([], **ok)
    with pytest.raises(ValueError, match="sentinel"):
        T.span_corruption([1, 2, SENTINELS[3], 4], **ok)
    for density in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="noise_density"):
            T.span_corruption(list(range(20)), noise_density=density, **ok)
    with pytest.raises(ValueError, match="mean_span_length"):
        T.span_corruption(list(range(20)), mean_span_length=0.5, **ok)
    # 100 tokens: 15 noise tokens in 5 spans need 6 sentinels
    with pytest.raises(ValueError, match="need 6 sentinel ids"):
        T.span_corruption(list(range(100)), sentinel_ids=[-1, -2, -3, -4, -5])
    T.span_corruption(list(range(100)), sentinel_ids=[-1, -2, -3, -4, -5, -6])
    with pytest.raises(ValueError, match="distinct"):
        T.span_corruption(list(range(10)), sentinel_ids=[-1, -1])
    with pytest.raises(TypeError, match="tolist"):
        T.span_corruption(torch.arange(10), **ok)
    with pytest.raises(TypeError, match="int ids"):
        T.span_corruption([1.0, 2.0], **ok)
    with pytest.raises(TypeError, match="generator"):
        T.span_corruption(list(range(10)), generator=0, **ok)


def test_fill_spans_strict_and_lenient():
    s = [100, 101, 102]
    assert T.fill_spans([1, 100, 4, 101], [100, 2, 3, 101, 5, 102], s) == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="no span"):
        T.fill_spans([1, 100, 4, 101], [100, 2, 3], s)
    with pytest.raises(ValueError, match="start with a sentinel"):
        T.fill_spans([1, 100], [9, 100, 2], s)
    with pytest.raises(ValueError, match="twice"):
        T.fill_spans([1, 100], [100, 2, 100, 3], s)
    # a model's imperfect prediction
    assert T.fill_spans([1, 100, 4, 101], [9, 100, 2, 100, 3], s, strict=False) == [1, 2, 4]


# ------------------------------------------------------------------------ the model
CONFIGS = {
    "relu-tied": dict(feed_forward_proj="relu", tie_word_embeddings=True),
    "gated-gelu-untied": dict(
        feed_forward_proj="gated-gelu", tie_word_embeddings=False, num_decoder_layers=3
    ),
    "inner-dim-differs": dict(d_model=24, d_kv=10, num_heads=3, num_layers=3, num_decoder_layers=1),
    "gated-gelu-tied-deep-decoder": dict(
        feed_forward_proj="gated-gelu",
        num_layers=1,
        num_decoder_layers=3,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
    ),
}


def _hf_t5(attn_implementation=None, separate_lm_head=None, **overrides):
    """A random T5ForConditionalGeneration with small sizes; few buckets and a short
    max_distance, so that our sequences reach the logarithmic and the "far" buckets."""
    sizes = dict(
        vocab_size=90,
        d_model=32,
        d_kv=8,
        d_ff=48,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=12,
        dropout_rate=0.0,
        decoder_start_token_id=0,
    )
    if attn_implementation is not None:
        sizes["attn_implementation"] = attn_implementation
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(HFT5Config(**(sizes | overrides))).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:  # initialised at 1: perturb, so that a wrong copy shows
                p.add_(0.2 * torch.randn_like(p))
        if separate_lm_head:  # as a v1.1 checkpoint loads: an lm_head of its own
            model.lm_head.weight = nn.Parameter(torch.randn_like(model.shared.weight))
    return model


def _batch(vocab=90, lengths=(20, 13, 5), tgt_len=15, seed=1):
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(2, vocab, (len(lengths), width), generator=g)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    ids = ids * mask  # padding id 0
    dec = torch.randint(2, vocab, (len(lengths), tgt_len), generator=g)
    dec[:, 0] = 0  # the decoder start token
    return ids, mask, dec


@pytest.mark.parametrize("name", list(CONFIGS))
def test_equals_transformers(name):
    overrides = dict(CONFIGS[name])
    untied = overrides.get("tie_word_embeddings") is False
    theirs = _hf_t5(separate_lm_head=untied, **overrides)
    ours = T.T5.from_huggingface(theirs)
    c = ours.config
    assert c.tie_word_embeddings is not untied
    assert (ours.lm_head.weight is ours.shared.weight) is not untied
    assert c.num_decoder_layers == overrides.get("num_decoder_layers", c.num_layers)
    assert c.inner_dim == theirs.config.num_heads * theirs.config.d_kv
    ids, mask, dec = _batch()
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask, decoder_input_ids=dec)
        logits = ours(ids, dec, mask)
        encoded = ours.encode(ids, mask)
    assert logits.shape == (3, 15, 90)
    diff = (logits - expected.logits).abs().max().item()
    print(f"{name}: largest logit difference {diff:.3g}")
    torch.testing.assert_close(logits, expected.logits)
    real = mask.bool()
    torch.testing.assert_close(encoded[real], expected.encoder_last_hidden_state[real])
    # without a mask (no padding in the batch)
    full = torch.randint(2, 90, (2, 17), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(
            ours(full, dec[:2]), theirs(input_ids=full, decoder_input_ids=dec[:2]).logits
        )


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_equals_transformers_attention_implementations(attn):
    theirs = _hf_t5(attn_implementation=attn, feed_forward_proj="gated-gelu")
    ours = T.T5.from_huggingface(theirs)
    ids, mask, dec = _batch(lengths=(9, 20, 1))
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
        torch.testing.assert_close(ours(ids, dec, mask), expected)


def test_untied_model_as_transformers_builds_it():
    """transformers 5.x builds T5Config(tie_word_embeddings=False) with lm_head *tied* to shared
    (it only turns the rescaling off): we get an untied model with a copy of that matrix."""
    theirs = _hf_t5(tie_word_embeddings=False)
    assert theirs.config.scale_decoder_outputs is False
    ours = T.T5.from_huggingface(theirs)
    assert not ours.config.tie_word_embeddings
    assert ours.lm_head.weight is not ours.shared.weight
    ids, mask, dec = _batch()
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
        torch.testing.assert_close(ours(ids, dec, mask), expected)


def test_t5_layer_norm_equals_transformers():
    ours, theirs = T.T5LayerNorm(24), HFT5LayerNorm(24)
    assert ours.eps == theirs.variance_epsilon == 1e-6
    with torch.no_grad():
        ours.weight.copy_(torch.randn(24))
        theirs.weight.copy_(ours.weight)
        x = 3 * torch.randn(5, 7, 24) + 1
        assert torch.equal(ours(x), theirs(x))
        # a bfloat16 model too (weight and input in bfloat16)
        assert torch.equal(ours.bfloat16()(x.bfloat16()), theirs.bfloat16()(x.bfloat16()))
        ours.float()
        # no mean subtraction: a constant vector keeps its sign
        assert (ours(torch.full((1, 24), 2.0)) * ours.weight.sign() > 0).all()


def test_gelu_new_is_gelu_tanh():
    x = torch.linspace(-6, 6, 101)
    torch.testing.assert_close(T.gelu_new(x), torch.nn.functional.gelu(x, approximate="tanh"))


def test_position_bias_is_shared_and_cross_attention_has_none():
    model = T.T5(T.T5Config(vocab_size=40, d_model=16, d_kv=4, d_ff=32, num_layers=3, num_heads=4))
    tables = [n for n, _ in model.named_parameters() if "relative_attention_bias" in n]
    assert tables == [
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
        "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
    ]
    enc = model.encoder.block[0].layer[0].SelfAttention.relative_attention_bias
    dec = model.decoder.block[0].layer[0].SelfAttention.relative_attention_bias
    assert isinstance(enc, nn.Embedding) and enc.weight.shape == (32, 4)
    assert enc.bidirectional and not dec.bidirectional
    assert enc(5, 7).shape == (1, 4, 5, 7)


def test_encode_decode_and_causality():
    theirs = _hf_t5(feed_forward_proj="gated-gelu")
    model = T.T5.from_huggingface(theirs)
    ids, mask, dec = _batch()
    with torch.no_grad():
        logits = model(ids, dec, mask)
        enc = model.encode(ids, mask)
        assert enc.shape == (3, 20, 32)
        assert torch.equal(model.decode(dec, enc, mask), logits)
        # changing later decoder tokens never changes earlier logits
        changed = dec.clone()
        changed[:, 8:] = 5
        torch.testing.assert_close(model.decode(changed, enc, mask)[:, :8], logits[:, :8])
        # padding is invisible: a row alone, without its padding, gives the same logits
        alone = model(ids[2:3, :5], dec[2:3])
        torch.testing.assert_close(alone, logits[2:3])
        # ... and so is padding on the left (no absolute positions in T5)
        left = torch.cat([torch.zeros(1, 4, dtype=torch.long), ids[2:3, :5]], dim=1)
        left_mask = torch.cat([torch.zeros(1, 4), torch.ones(1, 5)], dim=1).long()
        torch.testing.assert_close(model(left, dec[2:3], left_mask), alone)


def test_new_model_shapes_init_and_tying():
    torch.manual_seed(0)
    config = T.T5Config(
        vocab_size=60, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, dropout=0.1
    )
    model = T.T5(config)
    assert config.num_decoder_layers == 2
    assert model.lm_head.weight is model.shared.weight
    assert set(T.weight_names(config)) == {n for n, _ in model.named_parameters()}
    q = model.encoder.block[1].layer[0].SelfAttention.q.weight
    assert 0.5 < q.std().item() * (32 * 8) ** 0.5 < 1.5  # the folded 1/√d_kv
    assert 0.8 < model.shared.weight.std().item() < 1.2
    ids, mask, dec = _batch(vocab=60)
    model.train()
    loss = nn.functional.cross_entropy(model(ids, dec, mask).flatten(0, 1), dec.flatten())
    loss.backward()
    assert model.shared.weight.grad is not None
    untied = T.T5(T.T5Config(vocab_size=60, d_model=32, num_layers=1, tie_word_embeddings=False))
    assert untied.lm_head.weight is not untied.shared.weight
    assert "lm_head.weight" in T.weight_names(untied.config)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_greedy_generate_equals_transformers(name):
    overrides = dict(CONFIGS[name])
    theirs = _hf_t5(separate_lm_head=overrides.get("tie_word_embeddings") is False, **overrides)
    # At T5's initialisation the embeddings dominate the residual stream, and a tied model just
    # repeats its input token (0, 0, 0, ...). Louder sub-layers make varied outputs to compare.
    with torch.no_grad():
        for n, p in theirs.named_parameters():
            if n.endswith((".o.weight", ".wo.weight")):
                p.mul_(10.0)
    ours = T.T5.from_huggingface(theirs)
    ids, mask, _ = _batch()
    free = T.greedy_generate(ours, ids, mask, max_new_tokens=10, eos_token_id=None)
    assert free.shape == (3, 11) and (free[:, 0] == 0).all()
    assert max(len(set(row)) for row in free[:, 1:].tolist()) >= 3  # not a constant output
    # make row 0 stop early: its third token is the "end of sequence"
    eos = int(free[0, 3])
    ours_tokens = T.greedy_generate(ours, ids, mask, max_new_tokens=10, eos_token_id=eos)
    # transformers 5.23's generate() sizes its cache by the *encoder's* depth (num_layers) and
    # fails with an IndexError when the decoder is deeper, so such models generate uncached
    deeper = theirs.config.num_decoder_layers > theirs.config.num_layers
    hf_tokens = theirs.generate(
        ids,
        use_cache=not deeper,
        attention_mask=mask,
        max_new_tokens=10,
        do_sample=False,
        num_beams=1,
        decoder_start_token_id=0,
        eos_token_id=eos,
        pad_token_id=0,
    )
    assert torch.equal(ours_tokens, hf_tokens)
    stop = (ours_tokens[0] == eos).nonzero()[0].item()
    assert stop <= 3 and (ours_tokens[0, stop + 1 :] == 0).all()  # padded after its end
    unaffected = [r for r in range(3) if eos not in free[r].tolist()]
    assert unaffected and ours_tokens.shape == (3, 11)  # another row ran to the end
    assert torch.equal(ours_tokens[unaffected], free[unaffected])


@pytest.mark.parametrize("name", ["relu-tied", "gated-gelu-untied"])
def test_to_huggingface_round_trip(name, tmp_path):
    overrides = dict(CONFIGS[name])
    untied = overrides.get("tie_word_embeddings") is False
    ours = T.T5.from_huggingface(_hf_t5(separate_lm_head=untied, **overrides))
    theirs = ours.to_huggingface()
    assert isinstance(theirs, T5ForConditionalGeneration)
    ids, mask, dec = _batch()
    with torch.no_grad():
        logits = ours(ids, dec, mask)
        torch.testing.assert_close(
            theirs(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits, logits
        )
    back = T.T5.from_huggingface(theirs)
    assert back.config == ours.config
    for key, tensor in ours.state_dict().items():
        assert torch.equal(tensor, back.state_dict()[key]), key
    theirs.save_pretrained(tmp_path)
    reloaded = T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(
            reloaded(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits, logits
        )
    assert T.T5.from_huggingface(reloaded).config == ours.config


def test_weight_names_are_transformers_names():
    for name, overrides in CONFIGS.items():
        theirs = _hf_t5(**overrides)
        config = T.T5.from_huggingface(theirs).config
        names = T.weight_names(config)
        assert all(k == v for k, v in names.items())
        hf_names = set(theirs.state_dict())
        assert set(names) <= hf_names, name
        rest = hf_names - set(names)
        expected = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}
        if config.tie_word_embeddings:
            expected.add("lm_head.weight")
        assert rest == expected, name


# ------------------------------------------------------------------------ bad input
def test_bad_config():
    with pytest.raises(ValueError, match="feed_forward_proj"):
        T.T5Config(vocab_size=10, feed_forward_proj="gelu")
    with pytest.raises(ValueError, match="d_kv"):
        T.T5Config(vocab_size=10, d_kv=0)
    with pytest.raises(ValueError, match="num_buckets"):
        T.T5Config(vocab_size=10, relative_attention_num_buckets=2)
    with pytest.raises(ValueError, match="dropout"):
        T.T5Config(vocab_size=10, dropout=1.0)
    with pytest.raises(TypeError, match="tie_word_embeddings"):
        T.T5Config(vocab_size=10, tie_word_embeddings="yes")
    with pytest.raises(TypeError, match="T5Config"):
        T.T5(HFT5Config())
    with pytest.raises(TypeError, match="T5Config"):
        T.weight_names(HFT5Config())


def test_bad_input():
    model = T.T5(T.T5Config(vocab_size=40, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=4))
    ids, dec = torch.randint(0, 40, (2, 6)), torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="int64"):
        model(ids.float(), dec)
    with pytest.raises(ValueError, match="int64"):
        model(ids, dec.int())
    with pytest.raises(ValueError, match=r"\[0, 40\)"):
        model(ids + 40, dec)
    with pytest.raises(ValueError, match="attention_mask"):
        model(ids, dec, torch.ones(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"0 \(padding\)"):
        model(ids, dec, torch.full((2, 6), 2))
    with pytest.raises(ValueError, match="0/1"):
        model(ids, dec, torch.ones(2, 6))
    with pytest.raises(ValueError, match="encoder_output"):
        model.decode(dec, torch.zeros(3, 6, 16))
    with pytest.raises(ValueError, match="encoder_output"):
        model.decode(dec, torch.zeros(2, 6, 8))
    with pytest.raises(TypeError, match=r"utils\.t5\.T5"):
        T.greedy_generate(nn.Linear(2, 2), ids, max_new_tokens=3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        T.greedy_generate(model, ids, max_new_tokens=0)
    with pytest.raises(ValueError, match="eos_token_id"):
        T.greedy_generate(model, ids, max_new_tokens=3, eos_token_id=40)


def test_from_huggingface_rejects_other_models_and_variants():
    with pytest.raises(TypeError, match="T5ForConditionalGeneration"):
        T.T5.from_huggingface(nn.Linear(2, 2))
    bert = BertModel(
        BertConfig(
            vocab_size=30,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    )
    with pytest.raises(TypeError, match="BertModel"):
        T.T5.from_huggingface(bert)
    no_head = T5Model(HFT5Config(vocab_size=30, d_model=16, d_kv=4, d_ff=32, num_layers=1))
    with pytest.raises(TypeError, match="T5Model"):
        T.T5.from_huggingface(no_head)
    for proj in ("gated-silu", "gelu"):
        with pytest.raises(ValueError, match="feed_forward_proj"):
            T.T5.from_huggingface(_hf_t5(feed_forward_proj=proj))
    # a tied (rescaling) T5 whose lm_head is not the embedding matrix
    with pytest.raises(ValueError, match="lm_head differs"):
        T.T5.from_huggingface(_hf_t5(separate_lm_head=True))
