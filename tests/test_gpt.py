"""utils.gpt: shapes, causality, the KV cache, bad input, and equivalence with GPT-2."""

import pytest
import torch
from torch import nn

from utils.gpt import GPT, GPTConfig, KVCache, attend, weight_names


def small(**kw):
    args = dict(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16) | kw
    return GPT(GPTConfig(**args)).eval()


def test_shapes_and_tied_weights():
    torch.manual_seed(0)
    model = small()
    logits = model(torch.randint(0, 50, (3, 7)))
    assert logits.shape == (3, 7, 50)
    assert model.lm_head.weight is model.transformer.wte.weight


def test_future_tokens_never_change_past_logits():
    torch.manual_seed(0)
    model = small()
    x = torch.randint(0, 50, (2, 12))
    y = x.clone()
    y[:, 8:] = torch.randint(0, 50, (2, 4))
    a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :8], b[:, :8])
    assert not torch.allclose(a[:, 8:], b[:, 8:])  # the check can fail


def test_cache_in_chunks_equals_one_pass():
    torch.manual_seed(0)
    model = small()
    x = torch.randint(0, 50, (2, 14))
    full = model(x)
    cache = model.new_cache()
    parts = [model(x[:, :5], cache), model(x[:, 5:6], cache), model(x[:, 6:14], cache)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full)
    assert len(cache) == 14
    assert cache.keys[0].shape == (2, 2, 14, 8)
    assert cache.nbytes() == 2 * 2 * 2 * 14 * 16 * 4  # k and v, 2 layers, batch 2, 14 pos


def test_attend_equals_masked_softmax():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    scores = q @ k.transpose(-2, -1) / 2.0
    allowed = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    expected = scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v
    torch.testing.assert_close(attend(q, k, v), expected)


@pytest.mark.parametrize(
    "kw", [dict(n_layer=1, n_head=1, n_embd=8), dict(n_layer=3, n_head=4, n_embd=32)]
)
def test_equals_huggingface_gpt2(kw):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(1)
    cfg = GPT2Config(
        vocab_size=97,
        n_positions=24,
        n_embd=kw["n_embd"],
        n_layer=kw["n_layer"],
        n_head=kw["n_head"],
        bos_token_id=0,
        eos_token_id=0,
    )
    hf = GPT2LMHeadModel(cfg).eval()
    ours = GPT.from_huggingface(hf)
    x = torch.randint(0, 97, (2, 24))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), hf(x).logits, atol=1e-5, rtol=1e-5)
    assert set(weight_names(kw["n_layer"])) | {"lm_head.weight"} == set(
        dict(ours.named_parameters(remove_duplicate=False))
    )


def test_from_huggingface_rejects_other_models():
    with pytest.raises(TypeError, match="GPT2LMHeadModel"):
        GPT.from_huggingface(nn.Linear(2, 2))


def test_bad_config_and_input():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(10, 8, 1, 3, 16)
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(10, 8, 1, 2, 16, dropout=1.0)
    model = small()
    with pytest.raises(ValueError, match="int64"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        model(torch.tensor([[1, 50]]))
    with pytest.raises(ValueError, match="context of 16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    cache = model.new_cache()
    model(torch.zeros(1, 10, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="10 cached"):
        model(torch.zeros(1, 7, dtype=torch.long), cache)
    with pytest.raises(ValueError):
        KVCache(0)
