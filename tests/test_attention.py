"""utils.attention: equal to PyTorch's attention, masks, clear errors."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from utils import attention as A

SHAPES = [  # (batch dims, seq_q, seq_k, d_k, d_v)
    ((), 1, 1, 1, 1),
    ((2,), 5, 5, 8, 8),
    ((3,), 4, 7, 16, 5),
    ((2, 4), 6, 9, 8, 8),
]
DTYPES = [torch.float32, torch.float64]


def _qkv(batch, seq_q, seq_k, d_k, d_v, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*batch, seq_q, d_k, generator=g, dtype=dtype)
    k = torch.randn(*batch, seq_k, d_k, generator=g, dtype=dtype)
    v = torch.randn(*batch, seq_k, d_v, generator=g, dtype=dtype)
    return q, k, v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_sdpa_equals_pytorch_without_mask(shape, dtype):
    q, k, v = _qkv(*shape, dtype)
    out, weights = A.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    expected = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES[1:])
def test_sdpa_equals_pytorch_with_random_masks(shape, dtype):
    q, k, v = _qkv(*shape, dtype)
    g = torch.Generator().manual_seed(1)
    mask = torch.rand(*q.shape[:-1], k.shape[-2], generator=g) > 0.4
    mask[..., 0] = True  # every query may see at least one key
    out, weights = A.scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert (weights[~mask] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_causal_equals_pytorch_is_causal(dtype):
    q, k, v = _qkv((2, 3), 6, 6, 8, 4, dtype)
    out, weights = A.scaled_dot_product_attention(q, k, v, A.causal_mask(6))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert (weights.triu(1) == 0).all()


def test_fully_masked_row_gives_zeros_like_pytorch():
    q, k, v = _qkv((2,), 3, 4, 8, 8, torch.float32)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False  # query 1 may attend to nothing
    out, weights = A.scaled_dot_product_attention(q, k, v, mask)
    assert (weights[:, 1] == 0).all() and (out[:, 1] == 0).all()
    assert not out.isnan().any()
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    # ... and no NaN reaches the gradients either.
    q.requires_grad_(True)
    A.scaled_dot_product_attention(q, k, v, mask)[0].sum().backward()
    assert not q.grad.isnan().any()


def test_gradients_equal_pytorch():
    q, k, v = (t.requires_grad_(True) for t in _qkv((2,), 5, 6, 8, 8, torch.float64))
    mask = A.causal_mask(6)[:5]
    ours = A.scaled_dot_product_attention(q, k, v, mask)[0]
    grads = torch.autograd.grad(ours.square().sum(), (q, k, v))
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    expected = torch.autograd.grad(theirs.square().sum(), (q, k, v))
    for a, b in zip(grads, expected, strict=True):
        torch.testing.assert_close(a, b)


def test_dropout_drops_and_rescales_weights():
    torch.manual_seed(0)
    q, k, v = _qkv((4,), 8, 8, 4, 4, torch.float32)
    _, weights = A.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    _, clean = A.scaled_dot_product_attention(q, k, v)
    kept = weights != 0
    assert 0.3 < kept.float().mean() < 0.7
    torch.testing.assert_close(weights[kept], 2 * clean[kept])


@pytest.mark.parametrize(
    ("q_shape", "k_shape", "v_shape", "match"),
    [
        ((2, 3, 8), (2, 4, 6), (2, 4, 6), r"same last dimension d_k: q \(2, 3, 8\), k \(2, 4, 6\)"),
        ((2, 3, 8), (2, 4, 8), (2, 5, 8), r"same number of positions seq_k: k \(2, 4, 8\)"),
        ((8,), (4, 8), (4, 8), "q must be a tensor"),
        (
            (2, 4, 8),
            (3, 6, 8),
            (3, 6, 8),
            r"leading .* must broadcast: q \(2, 4, 8\), k \(3, 6, 8\)",
        ),
    ],
)
def test_sdpa_shape_errors(q_shape, k_shape, v_shape, match):
    with pytest.raises(ValueError, match=match):
        A.scaled_dot_product_attention(
            torch.zeros(q_shape), torch.zeros(k_shape), torch.zeros(v_shape)
        )


def test_sdpa_mask_errors():
    q, k, v = _qkv((2,), 3, 4, 8, 8, torch.float32)
    with pytest.raises(
        ValueError, match=r"mask of shape \(3, 3\) does not broadcast .* \(2, 3, 4\)"
    ):
        A.scaled_dot_product_attention(q, k, v, torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="does not broadcast"):
        A.scaled_dot_product_attention(q, k, v, torch.ones(5, 3, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool tensor"):
        A.scaled_dot_product_attention(q, k, v, torch.ones(3, 4))
    with pytest.raises(ValueError, match="dropout_p"):
        A.scaled_dot_product_attention(q, k, v, dropout_p=1.0)


def test_causal_and_padding_masks():
    assert A.causal_mask(3).tolist() == [
        [True, False, False],
        [True, True, False],
        [True, True, True],
    ]
    ids = torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]])
    m = A.padding_mask(ids, pad_id=0)
    assert m.shape == (2, 1, 4)
    assert m[:, 0].tolist() == [[True, True, False, False], [True, False, False, False]]
    combined = m & A.causal_mask(4)
    assert combined.shape == (2, 4, 4) and combined[0, 3].tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="seq_len"):
        A.causal_mask(0)
    with pytest.raises(ValueError, match=r"\(batch, seq\)"):
        A.padding_mask(torch.tensor([1, 2]), 0)
    with pytest.raises(TypeError, match="integer"):
        A.padding_mask(torch.zeros(2, 3), 0)


# ------------------------------------------------------------------------------ multi-head
def _torch_mha(d_model, heads, bias=True, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(d_model, heads, bias=bias, batch_first=True).to(dtype).eval()
    if bias:  # PyTorch starts the biases at 0; make them matter
        with torch.no_grad():
            mha.in_proj_bias.normal_()
            mha.out_proj.bias.normal_()
    return mha


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("d_model", "heads", "bias"), [(8, 1, True), (16, 4, True), (24, 3, False)]
)
def test_mha_equals_pytorch(d_model, heads, bias, dtype):
    theirs = _torch_mha(d_model, heads, bias, dtype)
    ours = A.MultiHeadAttention.from_torch(theirs).eval()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 5, d_model, generator=g, dtype=dtype)
    memory = torch.randn(3, 7, d_model, generator=g, dtype=dtype)
    for query, kv in ((x, x), (x, memory)):  # self- and cross-attention
        out, w = ours(query, kv, kv)
        ref_out, ref_w = theirs(query, kv, kv, average_attn_weights=False)
        torch.testing.assert_close(out, ref_out)
        torch.testing.assert_close(w, ref_w)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mha_masks_equal_pytorch(dtype):
    theirs = _torch_mha(16, 4, dtype=dtype)
    ours = A.MultiHeadAttention.from_torch(theirs).eval()
    ids = torch.tensor([[3, 4, 5, 6, 0], [3, 4, 0, 0, 0], [7, 8, 9, 1, 2]])
    x = torch.randn(3, 5, 16, dtype=dtype)
    pad = A.padding_mask(ids, pad_id=0)
    # PyTorch's module wants True = "not allowed": the opposite of ours.
    out, w = ours(x, x, x, mask=pad)
    ref_out, ref_w = theirs(x, x, x, key_padding_mask=ids == 0, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)
    causal = A.causal_mask(5)
    out, w = ours(x, x, x, mask=causal & pad)
    ref_out, ref_w = theirs(
        x, x, x, attn_mask=~causal, key_padding_mask=ids == 0, average_attn_weights=False
    )
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)


def test_mha_per_head_mask_and_loop_over_heads():
    torch.manual_seed(0)
    mha = A.MultiHeadAttention(12, 3).eval()
    x = torch.randn(2, 4, 12)
    per_head = torch.ones(2, 3, 4, 4, dtype=torch.bool)
    per_head[:, 1] = A.causal_mask(4)  # only head 1 is causal
    out, w = mha(x, x, x, mask=per_head)
    assert (w[:, 1].triu(1) == 0).all() and (w[:, 0].triu(1) > 0).any()
    # The batched reshape equals a loop over heads with slices of the projections.
    heads = []
    for h in range(3):
        rows = slice(4 * h, 4 * (h + 1))
        q = x @ mha.q_proj.weight[rows].T + mha.q_proj.bias[rows]
        k = x @ mha.k_proj.weight[rows].T + mha.k_proj.bias[rows]
        v = x @ mha.v_proj.weight[rows].T + mha.v_proj.bias[rows]
        heads.append(A.scaled_dot_product_attention(q, k, v, per_head[:, h])[0])
    torch.testing.assert_close(out, mha.out_proj(torch.cat(heads, dim=-1)))


def test_mha_dropout_only_in_training():
    torch.manual_seed(0)
    mha = A.MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(2, 6, 8)
    mha.eval()
    torch.testing.assert_close(mha(x, x, x)[0], mha(x, x, x)[0])
    mha.train()
    assert not torch.allclose(mha(x, x, x)[0], mha(x, x, x)[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"d_model": 10, "num_heads": 3}, ValueError, "d_model=10 is not divisible by num_heads=3"),
        ({"d_model": 0, "num_heads": 1}, ValueError, "d_model must be"),
        ({"d_model": 8, "num_heads": 2, "dropout": 1.5}, ValueError, "dropout"),
    ],
)
def test_mha_bad_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        A.MultiHeadAttention(**kwargs)


def test_mha_bad_input():
    mha = A.MultiHeadAttention(8, 2)
    x = torch.zeros(2, 3, 8)
    with pytest.raises(
        ValueError, match=r"query must be \(batch, seq, d_model=8\), got shape \(2, 3, 6\)"
    ):
        mha(torch.zeros(2, 3, 6), x, x)
    with pytest.raises(
        TypeError, match=r"key must be a tensor \(batch, seq, d_model=8\), got list"
    ):
        mha(x, [[0.0] * 8], x)
    with pytest.raises(ValueError, match="share the batch size"):
        mha(x, x, torch.zeros(2, 4, 8))
    with pytest.raises(ValueError, match="does not broadcast"):
        mha(x, x, x, mask=torch.ones(2, 5, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"mha must be a torch\.nn\.MultiheadAttention, got Linear"):
        A.MultiHeadAttention.from_torch(nn.Linear(2, 2))
    with pytest.raises(TypeError, match=r"d_model must be a positive int, got float 8\.0"):
        A.MultiHeadAttention(8.0, 2)


def test_mha_fully_masked_row_and_cross_attention_masks_equal_pytorch():
    theirs = _torch_mha(16, 4, bias=False)
    ours = A.MultiHeadAttention.from_torch(theirs).eval()
    assert ours.q_proj.bias is None
    g = torch.Generator().manual_seed(3)
    query, memory = torch.randn(2, 3, 16, generator=g), torch.randn(2, 6, 16, generator=g)
    ids = torch.tensor([[1, 2, 3, 4, 0, 0], [1, 2, 3, 4, 5, 6]])
    out, w = ours(query, memory, memory, mask=A.padding_mask(ids, 0))
    ref_out, ref_w = theirs(
        query, memory, memory, key_padding_mask=ids == 0, average_attn_weights=False
    )
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)
    # A query that may see nothing: zeros from us where PyTorch's module gives NaN.
    mask = torch.ones(2, 3, 6, dtype=torch.bool)
    mask[0, 1] = False
    out, w = ours(query, memory, memory, mask=mask)
    assert (w[0, :, 1] == 0).all() and not out.isnan().any()
    with torch.no_grad():
        expected_row = ours.out_proj(torch.zeros(16))  # zero attention output, then W_O
    torch.testing.assert_close(out[0, 1], expected_row)


def test_mha_gradients_equal_pytorch():
    theirs = _torch_mha(8, 2, dtype=torch.float64)
    ours = A.MultiHeadAttention.from_torch(theirs)
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    mask = A.causal_mask(5)
    ours(x, x, x, mask=mask)[0].square().sum().backward()
    theirs(x, x, x, attn_mask=~mask)[0].square().sum().backward()
    # PyTorch's module sums its gradients in another order; in float64 they still agree to
    # about 1e-7, far below any real mistake (a wrong head split gives differences of order 1).
    close = {"rtol": 1e-5, "atol": 1e-6}
    w_q, w_k, w_v = theirs.in_proj_weight.grad.chunk(3)
    torch.testing.assert_close(ours.q_proj.weight.grad, w_q, **close)
    torch.testing.assert_close(ours.k_proj.weight.grad, w_k, **close)
    torch.testing.assert_close(ours.v_proj.weight.grad, w_v, **close)
    torch.testing.assert_close(ours.out_proj.weight.grad, theirs.out_proj.weight.grad, **close)


def test_from_torch_rejects_unsupported_options():
    with pytest.raises(ValueError, match="add_bias_kv"):
        A.MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, add_bias_kv=True))
    with pytest.raises(ValueError, match="add_zero_attn"):
        A.MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, add_zero_attn=True))
    with pytest.raises(ValueError, match="kdim"):
        A.MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, kdim=4, vdim=4))


def test_mha_mask_errors_name_the_given_shape():
    mha = A.MultiHeadAttention(8, 2)
    x = torch.zeros(2, 3, 8)
    with pytest.raises(
        ValueError, match=r"mask of shape \(2, 5, 5\) does not broadcast .* \(2, 3, 3\)"
    ):
        mha(x, x, x, mask=torch.ones(2, 5, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool tensor"):
        mha(x, x, x, mask=[[True]])


def test_causal_self_attention_equals_masked_mha():
    torch.manual_seed(0)
    causal = A.CausalSelfAttention(16, 4).eval()
    plain = A.MultiHeadAttention(16, 4).eval()
    plain.load_state_dict(causal.state_dict())
    x = torch.randn(2, 6, 16)
    out, w = causal(x)
    ref_out, ref_w = plain(x, x, x, mask=A.causal_mask(6))
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)
    pad = A.padding_mask(torch.tensor([[1, 2, 3, 0, 0, 0], [1, 2, 3, 4, 5, 6]]), 0)
    torch.testing.assert_close(causal(x, pad)[1], plain(x, x, x, mask=A.causal_mask(6) & pad)[1])
    strict = A.CausalSelfAttention(16, 4, strict=True).eval()
    _, w = strict(x)
    assert (w[..., 0, :] == 0).all()  # position 0 sees nothing
    assert (torch.diagonal(w, dim1=-2, dim2=-1) == 0).all()
    assert "strict=True" in repr(strict)
    with pytest.raises(ValueError, match=r"\(batch, seq, d_model\)"):
        causal(torch.zeros(6, 16))


# ------------------------------------------------------------------ a real pretrained model
@pytest.mark.slow
def test_mha_with_minilm_weights_equals_the_models_own_attention():
    """Each of the 6 layers of all-MiniLM-L6-v2, its weights copied into our class: the same
    attention weights as the model reports (output_attentions), and the same output as its
    W_O projection (BertSelfOutput.dense), padding included."""
    from utils.pretrained import load_encoder

    model, tokenizer = load_encoder(attention="eager")  # eager: it returns the weights
    texts = ["A cat sits on the mat.", "Attention lets every word look at every other word."]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert (batch["attention_mask"] == 0).any()  # the first text is padded
    projected = []  # what each layer's W_O produces, caught on the way
    hooks = [
        layer.attention.output.dense.register_forward_hook(lambda m, i, o: projected.append(o))
        for layer in model.encoder.layer
    ]
    try:
        with torch.no_grad():
            out = model(**batch, output_attentions=True, output_hidden_states=True)
    finally:
        for hook in hooks:
            hook.remove()
    mask = A.padding_mask(batch["attention_mask"], pad_id=0)  # (batch, 1, seq): keys to see
    for i, layer in enumerate(model.encoder.layer):
        theirs = layer.attention.self
        ours = A.MultiHeadAttention(model.config.hidden_size, model.config.num_attention_heads)
        with torch.no_grad():
            for proj, linear in (
                (ours.q_proj, theirs.query),
                (ours.k_proj, theirs.key),
                (ours.v_proj, theirs.value),
                (ours.out_proj, layer.attention.output.dense),
            ):
                proj.load_state_dict(linear.state_dict())
            x = out.hidden_states[i]  # the layer's input, (batch, seq, 384)
            output, weights = ours.eval()(x, x, x, mask)
        assert weights.shape == out.attentions[i].shape == (2, 12, x.shape[1], x.shape[1])
        torch.testing.assert_close(weights, out.attentions[i], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(output, projected[i], atol=1e-5, rtol=1e-4)
        assert (weights[0, :, :, batch["attention_mask"][0] == 0] == 0).all()
