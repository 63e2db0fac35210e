"""utils.bert: BERT's masking rule (statistics, equal to Hugging Face's collator), our encoder
equal to transformers' BertModel (the offline MiniLM and random models of other sizes), the
heads exported to BertForMaskedLM / BertForSequenceClassification, span reading, clear errors."""

import pytest
import torch
from torch import nn
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertModel,
    DataCollatorForLanguageModeling,
)

from utils import bert as B
from utils import transformer as T


def _random_bert(dtype=torch.float32, **overrides):
    torch.manual_seed(0)
    sizes = dict(
        vocab_size=300,
        hidden_size=48,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=100,
        max_position_embeddings=40,
        type_vocab_size=3,
        layer_norm_eps=1e-7,
    )
    model = BertModel(BertConfig(**(sizes | overrides))).eval().to(dtype)
    # BERT's init leaves LayerNorms at 1 and 0 and biases at 0: randomise them so a wrong copy shows
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model


def _batch(vocab=300, lengths=(9, 6, 3), width=9, types=3):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, vocab, (len(lengths), width), generator=g)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    ids = ids * mask  # padding id 0
    token_types = torch.randint(0, types, ids.shape, generator=g) * mask
    return ids, mask, token_types


# ------------------------------------------------------------------------------ mask_tokens
def test_mask_tokens_statistics():
    vocab, mask_id, pad = 1000, 4, 0
    ids = torch.randint(5, vocab, (400, 500), generator=torch.Generator().manual_seed(0))
    ids[:, 0], ids[:, -50:] = 2, pad  # a [CLS] and padding: never selected
    inputs, labels = B.mask_tokens(
        ids,
        mask_token_id=mask_id,
        vocab_size=vocab,
        special_token_ids=[2, pad],
        generator=torch.Generator().manual_seed(0),
    )
    selected = labels != B.IGNORE_INDEX
    eligible = (ids != 2) & (ids != pad)
    assert not selected[~eligible].any()
    assert (inputs[~selected] == ids[~selected]).all()  # only selected tokens change
    assert (labels[selected] == ids[selected]).all()
    share = selected.sum() / eligible.sum()
    assert abs(share - 0.15) < 0.005
    n = selected.sum()
    masked = (inputs[selected] == mask_id).sum() / n
    kept = (inputs[selected] == ids[selected]).sum() / n
    random = 1 - masked - kept
    assert abs(masked - 0.8) < 0.01
    assert abs(kept - 0.1) < 0.01  # (a random draw equal to the token itself: 1 in 1000)
    assert abs(random - 0.1) < 0.01


def test_mask_tokens_is_reproducible_and_leaves_its_input_alone():
    ids = torch.randint(5, 50, (4, 30), generator=torch.Generator().manual_seed(0))
    before = ids.clone()
    kwargs = dict(mask_token_id=4, vocab_size=50)
    a = B.mask_tokens(ids, generator=torch.Generator().manual_seed(3), **kwargs)
    b = B.mask_tokens(ids, generator=torch.Generator().manual_seed(3), **kwargs)
    c = B.mask_tokens(ids, generator=torch.Generator().manual_seed(4), **kwargs)
    assert torch.equal(ids, before)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    one_d = B.mask_tokens(ids[0], generator=torch.Generator().manual_seed(3), **kwargs)
    assert one_d[0].shape == ids[0].shape  # any shape


def test_mask_tokens_equals_huggingface_collator():
    from utils.pretrained import load_tokenizer

    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    texts = ["The cat sat on the mat.", "Masked language models fill in the blanks, mostly."]
    batch = tokenizer(texts * 20, padding=True, return_tensors="pt")
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=7)
    examples = [{"input_ids": row} for row in batch["input_ids"].tolist()]
    theirs = collator(examples)
    inputs, labels = B.mask_tokens(
        batch["input_ids"],
        mask_token_id=tokenizer.mask_token_id,
        vocab_size=len(tokenizer),
        special_token_ids=tokenizer.all_special_ids,
        generator=torch.Generator().manual_seed(7),
    )
    assert (labels != -100).sum() > 10
    assert torch.equal(inputs, theirs["input_ids"])
    assert torch.equal(labels, theirs["labels"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(mlm_probability=0.0), r"\(0, 1\)"),
        (dict(mlm_probability=1.0), r"\(0, 1\)"),
        (dict(mlm_probability=-0.2), r"\(0, 1\)"),
        (dict(mlm_probability="0.15"), "number"),
        (dict(mask_token_id=60), "outside the vocabulary"),
        (dict(vocab_size=20), r"\[0, vocab_size=20\)"),
    ],
)
def test_mask_tokens_rejects_bad_arguments(kwargs, message):
    ids = torch.arange(5, 45).view(2, 20)
    args = dict(mask_token_id=4, vocab_size=50) | kwargs
    with pytest.raises(ValueError, match=message):
        B.mask_tokens(ids, **args)


@pytest.mark.parametrize("ids", [torch.arange(10).float(), torch.arange(10).int(), [1, 2, 3]])
def test_mask_tokens_wants_int64_ids(ids):
    with pytest.raises(ValueError, match="int64"):
        B.mask_tokens(ids, mask_token_id=4, vocab_size=50)


def test_mask_tokens_rejects_negative_ids():
    with pytest.raises(ValueError, match="from -1"):
        B.mask_tokens(torch.tensor([3, -1, 5]), mask_token_id=4, vocab_size=50)


# ----------------------------------------------------------- the encoder against BertModel
@pytest.mark.slow
def test_encoder_equals_the_offline_minilm(encoder):
    model, tokenizer = encoder
    ours = B.BertEncoder.from_huggingface(model).eval()
    assert ours.config["d_model"] == 384 and len(ours.layers) == 6
    texts = ["A cat sits on the mat.", "Attention lets every word look at every other word."]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    pair = tokenizer(["Where is the cat?"], ["The cat is on the mat."], return_tensors="pt")
    with torch.no_grad():
        for inputs in (batch, pair):
            theirs = model(**inputs)
            hidden = ours(**inputs)
            real = inputs["attention_mask"].bool()
            torch.testing.assert_close(
                hidden[real], theirs.last_hidden_state[real], atol=1e-5, rtol=0
            )
            torch.testing.assert_close(ours.pool(hidden), theirs.pooler_output, atol=1e-5, rtol=0)
    assert pair["token_type_ids"].max() == 1  # the second segment was really used


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu"])
def test_encoder_equals_random_bert_models(act, dtype):
    model = _random_bert(dtype, hidden_act=act)
    ours = B.BertEncoder.from_huggingface(model).eval()
    assert next(ours.parameters()).dtype == dtype
    ids, mask, types = _batch()
    with torch.no_grad():
        theirs = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        hidden = ours(ids, mask, types)
    real = mask.bool()
    atol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(hidden[real], theirs.last_hidden_state[real], atol=atol, rtol=0)
    torch.testing.assert_close(ours.pool(hidden), theirs.pooler_output, atol=atol, rtol=0)


@pytest.mark.parametrize(
    "sizes",
    [
        dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=1, intermediate_size=32),
        dict(hidden_size=96, num_hidden_layers=2, num_attention_heads=12, intermediate_size=384),
    ],
)
def test_encoder_equals_bert_models_of_other_shapes(sizes):
    model = _random_bert(**sizes)
    ours = B.BertEncoder.from_huggingface(model).eval()
    ids, mask, types = _batch()
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        got = ours(ids, mask, types)
    torch.testing.assert_close(got[mask.bool()], expected.last_hidden_state[mask.bool()])


def test_without_a_mask_or_token_types_the_defaults_are_all_ones_and_zeros():
    model = _random_bert()
    ours = B.BertEncoder.from_huggingface(model).eval()
    ids, _, _ = _batch(lengths=(9, 9, 9))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), model(input_ids=ids).last_hidden_state)


def test_gradients_equal_bert_models():
    model = _random_bert(torch.float64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model.train()
    ours = B.BertEncoder.from_huggingface(model)
    assert ours.training
    ids, mask, types = _batch()
    real = mask[..., None]  # a loss on the real positions only, as training uses
    theirs_out = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    (theirs_out * real).square().sum().backward()
    (ours(ids, mask, types) * real).square().sum().backward()
    names = B.weight_names(ours)
    theirs = dict(model.named_parameters())
    for name, p in ours.named_parameters():
        if name.startswith("pooler"):
            continue  # the loss does not use the pooler
        torch.testing.assert_close(p.grad, theirs[names[name]].grad, msg=name)


def test_attention_is_bidirectional_and_padding_is_invisible():
    ours = B.BertEncoder.from_huggingface(_random_bert()).eval()
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    changed = ids.clone()
    changed[0, 3] = 99  # a later token
    with torch.no_grad():
        a, b = ours(ids), ours(changed)
        assert not torch.allclose(a[0, 1], b[0, 1])  # an earlier position sees it: not causal
        padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)
        mask = (padded != 0).long()
        torch.testing.assert_close(ours(padded, mask)[:, :5], a)


def test_weight_names_cover_every_parameter():
    model = _random_bert()
    ours = B.BertEncoder.from_huggingface(model)
    names = B.weight_names(ours)
    assert set(names) == set(ours.state_dict())
    assert set(names.values()) == set(model.state_dict())
    assert (
        names["layers.2.self_attn.q_proj.weight"] == "encoder.layer.2.attention.self.query.weight"
    )
    no_pooler = B.BertEncoder(300, 48, 1, 4, 100, pooler=False)
    assert not any(n.startswith("pooler") for n in B.weight_names(no_pooler))


def test_encoder_round_trips_through_huggingface():
    torch.manual_seed(0)
    ours = B.BertEncoder(300, d_model=32, num_layers=2, num_heads=4, d_ff=64, max_len=16).eval()
    theirs = ours.to_huggingface()
    assert isinstance(theirs, BertModel) and not theirs.training
    ids, mask, types = _batch(lengths=(9, 4, 2), types=2)
    with torch.no_grad():
        torch.testing.assert_close(
            ours(ids, mask, types)[mask.bool()],
            theirs(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state[
                mask.bool()
            ],
        )
    back = B.BertEncoder.from_huggingface(theirs)
    for name, tensor in ours.state_dict().items():
        assert torch.equal(tensor, back.state_dict()[name]), name


# ----------------------------------------------------------------------------------- heads
def test_mlm_head_exports_to_bert_for_masked_lm(tmp_path):
    torch.manual_seed(0)
    encoder = B.BertEncoder(
        300, d_model=32, num_layers=2, num_heads=4, d_ff=64, max_len=16, pooler=False
    )
    mlm = B.BertForMLM(encoder).eval()
    with torch.no_grad():
        mlm.bias.normal_()  # so that the output bias is really copied
    ids, mask, _ = _batch(lengths=(9, 4, 2))
    with torch.no_grad():
        logits = mlm(ids, mask)
    assert logits.shape == (3, 9, 300)
    assert mlm.head(torch.zeros(32)).shape == (300,)
    theirs = mlm.to_huggingface()
    assert isinstance(theirs, BertForMaskedLM)
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(logits[mask.bool()], expected[mask.bool()])
    theirs.save_pretrained(tmp_path)
    reloaded = BertForMaskedLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids, attention_mask=mask).logits, expected)
    # the output layer is the word embedding matrix: training one trains the other
    assert mlm.head(torch.zeros(32)).grad_fn is not None
    assert reloaded.cls.predictions.decoder.weight.data_ptr() == (
        reloaded.bert.embeddings.word_embeddings.weight.data_ptr()
    )


def test_mlm_export_needs_an_encoder_without_pooler():
    mlm = B.BertForMLM(B.BertEncoder(50, 16, 1, 2, 32, max_len=8))
    with pytest.raises(ValueError, match="pooler=False"):
        mlm.to_huggingface()


def test_classifier_exports_to_bert_for_sequence_classification(tmp_path):
    torch.manual_seed(0)
    encoder = B.BertEncoder(300, d_model=32, num_layers=2, num_heads=4, d_ff=64, max_len=16)
    clf = B.BertClassifier(encoder, 2, labels=["negative", "positive"]).eval()
    ids, mask, _ = _batch(lengths=(9, 4, 2))
    with torch.no_grad():
        logits = clf(ids, mask)
    assert logits.shape == (3, 2)
    theirs = clf.to_huggingface()
    assert isinstance(theirs, BertForSequenceClassification)
    assert theirs.config.id2label == {0: "negative", 1: "positive"}
    theirs.save_pretrained(tmp_path)
    reloaded = BertForSequenceClassification.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids, attention_mask=mask).logits, logits)


def test_heads_reject_what_they_cannot_use():
    with pytest.raises(TypeError, match="BertEncoder"):
        B.BertForMLM(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="BertEncoder"):
        B.BertClassifier(nn.Linear(2, 2), 2)
    no_pooler = B.BertEncoder(50, 16, 1, 2, 32, max_len=8, pooler=False)
    with pytest.raises(ValueError, match="pooler=True"):
        B.BertClassifier(no_pooler, 2)
    with pytest.raises(ValueError, match="no pooler"):
        no_pooler.pool(torch.zeros(1, 3, 16))
    with_pooler = B.BertEncoder(50, 16, 1, 2, 32, max_len=8)
    with pytest.raises(ValueError, match="2 names"):
        B.BertClassifier(with_pooler, 3, labels=["a", "b"])


# ---------------------------------------------------------------------------- bad inputs
def test_from_huggingface_rejects_other_models_and_configs():
    with pytest.raises(TypeError, match=r"model\.bert"):
        B.BertEncoder.from_huggingface(BertForMaskedLM(BertConfig(**_tiny())))
    with pytest.raises(TypeError, match="BertModel"):
        B.BertEncoder.from_huggingface(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="hidden_act"):
        B.BertEncoder.from_huggingface(BertModel(BertConfig(**_tiny(), hidden_act="silu")))
    with pytest.raises(ValueError, match="encoder"):
        B.BertEncoder.from_huggingface(BertModel(BertConfig(**_tiny(), is_decoder=True)))


def _tiny():
    return dict(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=8,
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m(torch.tensor([1, 2, 3])), r"\(batch, seq\)"),
        (lambda m: m(torch.tensor([[1, 2, 3]], dtype=torch.int32)), "int64"),
        (lambda m: m(torch.tensor([[1, 2, 50]])), r"\[0, vocab_size=50\)"),
        (lambda m: m(torch.ones(1, 9, dtype=torch.long)), "max_len=8"),
        (
            lambda m: m(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 4)),
            r"shape of input_ids \(2, 3\)",
        ),
        (
            lambda m: m(torch.ones(1, 3, dtype=torch.long), None, torch.tensor([[0, 1, 2]])),
            "type_vocab_size=2",
        ),
        (
            lambda m: m(torch.ones(1, 3, dtype=torch.long), None, torch.zeros(1, 3)),
            "integers",
        ),
    ],
)
def test_encoder_rejects_bad_inputs(call, message):
    model = B.BertEncoder(50, 16, 1, 2, 32, max_len=8)
    with pytest.raises(ValueError, match=message):
        call(model)


def test_bert_layer_is_our_encoder_layer_with_gelu_and_small_epsilon():
    layer = B.BertEncoder(50, 16, 1, 2, 32, max_len=8).layers[0]
    assert isinstance(layer, T.EncoderLayer) and not layer.norm_first
    assert layer.ff.activation == "gelu" and layer.norm1.eps == 1e-12
    with pytest.raises(ValueError, match="activation"):
        T.FeedForward(8, 16, activation="swish")
    with pytest.raises(ValueError, match="layer_norm_eps"):
        T.EncoderLayer(8, 2, 16, layer_norm_eps=0)


# ------------------------------------------------------------------------------- best_span
def test_best_span_picks_the_highest_scoring_valid_span():
    start = torch.tensor([0.5, 5.0, 1.0, 0.0, 0.0])
    end = torch.tensor([9.0, 0.0, 0.5, 4.0, 0.0])
    # start 1 + end 0 would score 14, but a span cannot end before it starts
    assert B.best_span(start, end) == (0, 0, 9.5)  # beats (1, 3): 5 + 4
    allowed = torch.tensor([False, True, True, True, True])
    assert B.best_span(start, end, allowed) == (1, 3, 9.0)
    assert B.best_span(start, end, allowed, max_length=2) == (1, 2, 5.5)


def test_best_span_errors():
    with pytest.raises(ValueError, match=r"\(seq,\)"):
        B.best_span(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="allowed"):
        B.best_span(torch.zeros(3), torch.zeros(3), torch.ones(3))
    with pytest.raises(ValueError, match="no span"):
        B.best_span(torch.zeros(3), torch.zeros(3), torch.zeros(3, dtype=torch.bool))


# ----------------------------------------------------------------------------------- embed
@pytest.mark.slow
def test_embed_equals_embed_sentences(encoder):
    from utils.pretrained import embed_sentences

    model, tokenizer = encoder
    ours = B.BertEncoder.from_huggingface(model).train()  # embed must switch dropout off
    texts = ["A cat sits on the mat.", "Shares fell sharply.", "Hi"] * 3
    got = B.embed(ours, tokenizer, texts, batch_size=4)
    torch.testing.assert_close(got, embed_sentences(texts, model, tokenizer), atol=1e-5, rtol=0)
    long = [" ".join(["word"] * 300)]  # longer than both truncation lengths
    torch.testing.assert_close(
        B.embed(ours, tokenizer, long, max_length=256),
        embed_sentences(long, model, tokenizer, max_length=256),
        atol=1e-5,
        rtol=0,
    )
    assert ours.training  # left as it was
    cls = B.embed(ours, tokenizer, texts[:2], pooling="cls")
    assert cls.shape == (2, 384) and torch.allclose(cls.norm(dim=-1), torch.ones(2))
    with pytest.raises(ValueError, match="pooling"):
        B.embed(ours, tokenizer, texts, pooling="max")
    with pytest.raises(TypeError, match="list of strings"):
        B.embed(ours, tokenizer, "one text")
