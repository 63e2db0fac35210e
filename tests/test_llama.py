"""utils.llama: each part against transformers' Llama (RMSNorm, RoPE, repeat_kv), RoPE's two
layouts, whole random models of several shapes, the KV cache, causality, bad input, and the real
SmolLM2-135M-Instruct (logits and greedy tokens)."""

import pytest
import torch
from transformers import LlamaConfig as HFLlamaConfig
from transformers import LlamaForCausalLM
from transformers.models.llama import modeling_llama as hf_llama

from utils import llama as L
from utils.positional import apply_rotary


def _hf_config(**overrides):
    sizes = dict(
        vocab_size=101,
        hidden_size=32,
        intermediate_size=72,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=48,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=0,
    )
    return HFLlamaConfig(**(sizes | overrides))


def _random_hf_llama(**overrides):
    torch.manual_seed(0)
    model = LlamaForCausalLM(_hf_config(**overrides)).eval()
    # the init leaves RMSNorm gains at 1 and biases at 0: perturb everything so a wrong copy shows
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def small(**kw):
    args = dict(vocab_size=50, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, hidden_dim=64)
    args |= dict(max_position_embeddings=24) | kw
    torch.manual_seed(0)
    return L.Llama(L.LlamaConfig(**args)).eval()


# ------------------------------------------------------------------ the parts


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm_equals_transformers(dtype):
    torch.manual_seed(0)
    ours, theirs = L.RMSNorm(24, eps=1e-5), hf_llama.LlamaRMSNorm(24, eps=1e-5)
    with torch.no_grad():
        ours.weight.copy_(torch.randn(24))
        theirs.weight.copy_(ours.weight)
    ours, theirs = ours.to(dtype), theirs.to(dtype)
    x = (3 * torch.randn(2, 5, 24) + 1).to(dtype)
    out = ours(x)
    assert out.dtype == dtype
    torch.testing.assert_close(out, theirs(x), atol=0, rtol=0)


def test_rmsnorm_gives_unit_rms():
    x = torch.randn(4, 16) * 7
    y = L.RMSNorm(16, eps=1e-12)(x)
    torch.testing.assert_close(y.pow(2).mean(-1), torch.ones(4), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"dim=16.*\(4, 8\)"):
        L.RMSNorm(16)(torch.zeros(4, 8))


def test_rope_equals_transformers():
    rope = {"rope_type": "default", "rope_theta": 500.0}
    config = _hf_config(hidden_size=64, num_attention_heads=4, rope_parameters=rope)
    rotary = hf_llama.LlamaRotaryEmbedding(config)
    torch.manual_seed(0)
    q, k = torch.randn(2, 4, 11, 16), torch.randn(2, 4, 11, 16)
    positions = torch.arange(5, 16)
    cos, sin = L.rope_cos_sin(positions, head_dim=16, base=500.0)
    hf_cos, hf_sin = rotary(q, positions[None])  # (1, seq, head_dim)
    torch.testing.assert_close(cos, hf_cos[0], atol=0, rtol=0)
    torch.testing.assert_close(sin, hf_sin[0], atol=0, rtol=0)
    hf_q, hf_k = hf_llama.apply_rotary_pos_emb(q, k, hf_cos, hf_sin)
    torch.testing.assert_close(L.apply_rope(q, cos, sin), hf_q, atol=0, rtol=0)
    torch.testing.assert_close(L.apply_rope(k, cos, sin), hf_k, atol=0, rtol=0)
    torch.testing.assert_close(L.rotate_half(q), hf_llama.rotate_half(q), atol=0, rtol=0)


def test_rope_is_the_interleaved_rotation_of_chapter_03_with_dimensions_permuted():
    torch.manual_seed(0)
    x = torch.randn(3, 9, 16, dtype=torch.float64)
    positions = torch.arange(9)
    cos, sin = L.rope_cos_sin(positions, head_dim=16, base=10000.0)
    half = L.apply_rope(L.interleaved_to_half(x), cos.double(), sin.double())
    interleaved = apply_rotary(x, positions, base=10000.0)
    # the angles are float32 here, float64 in apply_rotary
    torch.testing.assert_close(half, L.interleaved_to_half(interleaved), atol=2e-6, rtol=0)
    torch.testing.assert_close(L.half_to_interleaved(half), interleaved, atol=2e-6, rtol=0)
    assert L.interleaved_to_half(torch.arange(6.0)).tolist() == [0, 2, 4, 1, 3, 5]
    torch.testing.assert_close(L.half_to_interleaved(L.interleaved_to_half(x)), x)


def test_rope_depends_on_the_distance_only():
    torch.manual_seed(0)
    q, k = torch.randn(1, 8), torch.randn(1, 8)

    def score(m, n):
        cos, sin = L.rope_cos_sin(torch.tensor([m, n]), 8)
        rq, rk = L.apply_rope(q, cos[:1], sin[:1]), L.apply_rope(k, cos[1:], sin[1:])
        return (rq * rk).sum().item()

    assert score(7, 3) == pytest.approx(score(104, 100), abs=1e-4)
    assert score(7, 3) != pytest.approx(score(7, 4), abs=1e-3)


def test_rope_bad_input():
    with pytest.raises(ValueError, match="even"):
        L.rope_frequencies(7)
    with pytest.raises(ValueError, match="base"):
        L.rope_frequencies(8, base=1.0)
    with pytest.raises(TypeError, match="tensor"):
        L.rope_cos_sin([0, 1], 8)
    with pytest.raises(ValueError, match="int tensor"):
        L.rope_cos_sin(torch.zeros(3), 8)
    cos, sin = L.rope_cos_sin(torch.arange(4), 8)
    with pytest.raises(ValueError, match=r"\(2, 5, 8\)"):
        L.apply_rope(torch.zeros(2, 5, 8), cos, sin)


@pytest.mark.parametrize("n_rep", [1, 2, 3])
def test_repeat_kv_is_repeat_interleave(n_rep):
    x = torch.randn(2, 3, 5, 4)
    out = L.repeat_kv(x, n_rep)
    assert out.shape == (2, 3 * n_rep, 5, 4)
    torch.testing.assert_close(out, torch.repeat_interleave(x, n_rep, dim=1))
    torch.testing.assert_close(out, hf_llama.repeat_kv(x, n_rep))
    with pytest.raises(ValueError, match="n_kv_heads"):
        L.repeat_kv(torch.zeros(3, 5, 4), n_rep)
    with pytest.raises(ValueError, match="n_rep"):
        L.repeat_kv(x, 0)


def test_swiglu_formula():
    torch.manual_seed(0)
    mlp = L.SwiGLU(8, 20)
    x = torch.randn(3, 8)
    gate, up, down = mlp.gate_proj.weight, mlp.up_proj.weight, mlp.down_proj.weight
    expected = (torch.nn.functional.silu(x @ gate.T) * (x @ up.T)) @ down.T
    torch.testing.assert_close(mlp(x), expected)
    assert all(m.bias is None for m in (mlp.gate_proj, mlp.up_proj, mlp.down_proj))


# ------------------------------------------------------------------ whole models


@pytest.mark.parametrize(
    "overrides",
    [
        dict(num_key_value_heads=4),  # plain multi-head attention (ratio 1)
        dict(num_key_value_heads=2, tie_word_embeddings=False, attention_bias=True),
        dict(
            num_key_value_heads=1,  # multi-query attention (ratio 4)
            rope_parameters={"rope_type": "default", "rope_theta": 500.0},
            rms_norm_eps=1e-5,
        ),
    ],
    ids=["mha-tied", "gqa2-untied-bias", "mqa-theta500"],
)
def test_equals_transformers_llama(overrides):
    hf = _random_hf_llama(**overrides)
    ours = L.Llama.from_huggingface(hf)
    assert not ours.training and ours.lm_head.weight.dtype == torch.float32
    config = ours.config
    assert config.n_kv_heads == overrides["num_key_value_heads"]
    assert config.tie_embeddings == overrides.get("tie_word_embeddings", True)
    assert (ours.lm_head.weight is ours.model.embed_tokens.weight) == config.tie_embeddings
    assert config.rope_theta == overrides.get("rope_parameters", {}).get("rope_theta", 10000.0)
    x = torch.randint(0, 101, (2, 48))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), hf(input_ids=x).logits, atol=1e-5, rtol=1e-5)
    # the names are Hugging Face's: every parameter is copied, none is left over
    ours_names = set(dict(ours.named_parameters()))
    assert set(L.weight_names(config)) == ours_names
    assert ours_names <= set(hf.state_dict())
    assert set(hf.state_dict()) - ours_names <= {"lm_head.weight"}


def test_shapes_parameters_and_tying():
    model = small()
    assert model(torch.randint(0, 50, (3, 7))).shape == (3, 7, 50)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert model.context_length == 24
    assert isinstance(model.new_cache(), L.KVCache)
    hf = LlamaForCausalLM(
        _hf_config(
            vocab_size=50,
            hidden_size=32,
            intermediate_size=64,
            num_key_value_heads=2,
        )
    )
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in hf.parameters())


def test_future_tokens_never_change_past_logits():
    model = small()
    x = torch.randint(0, 50, (2, 12))
    y = x.clone()
    y[:, 8:] = (x[:, 8:] + 1) % 50
    with torch.no_grad():
        a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :8], b[:, :8], atol=0, rtol=0)
    assert not torch.allclose(a[:, 8:], b[:, 8:])  # the check can fail


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])
def test_cache_in_chunks_equals_one_pass(n_kv_heads):
    model = small(n_kv_heads=n_kv_heads)
    x = torch.randint(0, 50, (2, 14))
    with torch.no_grad():
        full = model(x)
        cache = model.new_cache()
        parts = [model(x[:, a:b], cache) for a, b in [(0, 5), (5, 6), (6, 13), (13, 14)]]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)
    assert len(cache) == 14
    # the cache keeps the key/value heads before repeat_kv: n_heads / n_kv_heads times smaller
    assert cache.keys[0].shape == cache.values[1].shape == (2, n_kv_heads, 14, 8)


def test_bad_config_and_input():
    with pytest.raises(ValueError, match="multiple of n_kv_heads"):
        L.LlamaConfig(50, 32, 2, n_heads=4, n_kv_heads=3, hidden_dim=64)
    with pytest.raises(ValueError, match="divisible by n_heads"):
        L.LlamaConfig(50, 30, 2, n_heads=4, n_kv_heads=2, hidden_dim=64)
    with pytest.raises(ValueError, match=r"head_dim .* even"):
        L.LlamaConfig(50, 12, 2, n_heads=4, n_kv_heads=2, hidden_dim=64)
    with pytest.raises(ValueError, match="n_layers must be a positive int"):
        L.LlamaConfig(50, 32, 0, n_heads=4, n_kv_heads=2, hidden_dim=64)
    with pytest.raises(ValueError, match="rope_theta"):
        L.LlamaConfig(50, 32, 2, 4, 2, 64, rope_theta=0.5)
    with pytest.raises(TypeError, match="tie_embeddings"):
        L.LlamaConfig(50, 32, 2, 4, 2, 64, tie_embeddings="yes")
    with pytest.raises(TypeError, match="LlamaConfig"):
        L.Llama(dict(vocab_size=50))
    model = small()
    with pytest.raises(ValueError, match="int64"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="int64"):
        model(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 50\).*max 50"):
        model(torch.tensor([[1, 50]]))
    with pytest.raises(ValueError, match="25 positions do not fit in the context of 24"):
        model(torch.zeros(1, 25, dtype=torch.long))
    cache = model.new_cache()
    model(torch.zeros(1, 20, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="20 cached \\+ 5 new"):
        model(torch.zeros(1, 5, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="3 layers, the model 2"):
        model(torch.zeros(1, 1, dtype=torch.long), L.KVCache(3))
    with pytest.raises(TypeError, match="KVCache"):
        model(torch.zeros(1, 1, dtype=torch.long), cache=[])


def test_from_huggingface_rejects_other_models_and_variants():
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=1, n_head=2))
    with pytest.raises(TypeError, match=r"LlamaForCausalLM.*GPT2LMHeadModel"):
        L.Llama.from_huggingface(gpt2)
    with pytest.raises(TypeError, match="LlamaForCausalLM"):
        L.Llama.from_huggingface(torch.nn.Linear(2, 2))
    scaled = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    with pytest.raises(ValueError, match="'linear'"):
        L.Llama.from_huggingface(LlamaForCausalLM(_hf_config(rope_parameters=scaled)))
    with pytest.raises(ValueError, match="'gelu'"):
        L.Llama.from_huggingface(LlamaForCausalLM(_hf_config(hidden_act="gelu")))
    with pytest.raises(ValueError, match="mlp_bias"):
        L.Llama.from_huggingface(LlamaForCausalLM(_hf_config(mlp_bias=True)))
    with pytest.raises(ValueError, match="head_dim 16"):
        L.Llama.from_huggingface(LlamaForCausalLM(_hf_config(head_dim=16)))


def test_weight_names():
    config = L.LlamaConfig(50, 32, 3, 4, 2, 64, tie_embeddings=False, attention_bias=True)
    names = L.weight_names(config)
    assert all(k == v for k, v in names.items())
    assert len(names) == 1 + 3 * (1 + 8 + 1 + 3) + 1 + 1
    assert "lm_head.weight" not in L.weight_names(L.LlamaConfig(50, 32, 3, 4, 2, 64))
    with pytest.raises(TypeError, match="LlamaConfig"):
        L.weight_names(3)


# ------------------------------------------------------------------ the real SmolLM2


@pytest.fixture(scope="module")
def smollm(decoder):
    return L.Llama.from_huggingface(decoder.model)


@pytest.mark.slow
def test_smollm2_config(smollm):
    assert smollm.config == L.LlamaConfig(
        vocab_size=49152,
        dim=576,
        n_layers=30,
        n_heads=9,
        n_kv_heads=3,
        hidden_dim=1536,
        rope_theta=100000.0,
        norm_eps=smollm.config.norm_eps,  # 1e-5 stored in float32: 9.9999997e-06
        max_position_embeddings=8192,
        tie_embeddings=True,
    )
    assert smollm.config.norm_eps == pytest.approx(1e-5)
    assert sum(p.numel() for p in smollm.parameters()) == 134_515_008


@pytest.mark.slow
def test_smollm2_logits_equal_transformers(decoder, smollm):
    model, tokenizer = decoder
    ids = tokenizer("The capital of France is Paris. The capital of Italy is", return_tensors="pt")
    ids = ids["input_ids"]
    with torch.no_grad():
        ours, theirs = smollm(ids), model(input_ids=ids).logits
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
    assert tokenizer.decode(ours[0, -1].argmax()) == " Rome"


@pytest.mark.slow
def test_smollm2_greedy_tokens_equal_transformers(decoder, smollm):
    model, tokenizer = decoder
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    with torch.no_grad():
        expected = model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=8,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )[0, prompt.shape[1] :]
        cache, new, tokens = smollm.new_cache(), prompt, []
        for _ in range(8):  # prefill the prompt, then one token at a time
            new = smollm(new, cache)[:, -1:].argmax(-1)
            tokens.append(new.item())
    assert len(expected) >= 6 and tokens[: len(expected)] == expected.tolist()  # it may stop at eos
    assert len(cache) == prompt.shape[1] + 7
    assert tokenizer.decode(tokens).startswith("The capital of France is")
