"""utils.generation: the filters against transformers' logits processors, generate() with and
without the cache, greedy against a hand loop, EOS handling, bad arguments."""

import pytest
import torch

from utils.generation import (
    apply_repetition_penalty,
    generate,
    process_logits,
    top_k_filter,
    top_p_filter,
)
from utils.gpt import GPT, GPTConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=40, block_size=12, n_layer=2, n_head=2, n_embd=16)).eval()


def test_top_k_keeps_k():
    logits = torch.tensor([[1.0, 5.0, 3.0, 2.0], [0.0, -1.0, 4.0, 4.0]])
    out = top_k_filter(logits, 2)
    assert torch.isinf(out).sum(1).tolist() == [2, 2]
    assert out[0, 1] == 5.0 and out[0, 2] == 3.0
    assert torch.equal(top_k_filter(logits, 10), logits)


def test_top_p_smallest_set():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    kept = lambda p: (~torch.isinf(top_p_filter(logits, p))).sum().item()  # noqa: E731
    assert kept(0.5) == 1  # 0.5 reaches 0.5
    assert kept(0.6) == 2
    assert kept(0.81) == 3
    assert kept(1.0) == 4
    assert kept(0.01) == 1  # the top token is always kept


@pytest.mark.parametrize("seed", range(3))
def test_filters_equal_transformers(seed):
    from transformers.generation.logits_process import (
        RepetitionPenaltyLogitsProcessor,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 50, generator=g) * 3
    prev = torch.randint(0, 50, (3, 7), generator=g)
    hf_k = TopKLogitsWarper(5)(prev, logits.clone())
    hf_p = TopPLogitsWarper(0.8)(prev, logits.clone())
    hf_r = RepetitionPenaltyLogitsProcessor(1.3)(prev, logits.clone())
    torch.testing.assert_close(top_k_filter(logits, 5), hf_k)
    assert torch.equal(torch.isinf(top_p_filter(logits, 0.8)), torch.isinf(hf_p))
    torch.testing.assert_close(apply_repetition_penalty(logits, prev, 1.3), hf_r)


def test_greedy_equals_a_hand_loop(model):
    idx = torch.tensor([[1, 2, 3]])
    expected = idx
    for _ in range(6):
        nxt = model(expected)[:, -1].argmax(-1, keepdim=True)
        expected = torch.cat([expected, nxt], 1)
    assert torch.equal(generate(model, idx, 6, temperature=0), expected)


@pytest.mark.parametrize("kw", [dict(temperature=0), dict(temperature=0.8, top_k=10, top_p=0.9)])
def test_cache_gives_the_same_tokens_even_past_the_context(model, kw):
    idx = torch.randint(0, 40, (2, 4), generator=torch.Generator().manual_seed(0))
    runs = [
        generate(model, idx, 20, use_cache=c, generator=torch.Generator().manual_seed(5), **kw)
        for c in (True, False)
    ]
    assert runs[0].shape == (2, 24)  # 24 > the context of 12
    assert torch.equal(runs[0], runs[1])


def test_sampling_is_repeatable_and_varies(model):
    idx = torch.zeros(1, 1, dtype=torch.long)
    draw = lambda s: generate(model, idx, 10, generator=torch.Generator().manual_seed(s))  # noqa: E731
    assert torch.equal(draw(1), draw(1))
    assert not all(torch.equal(draw(1), draw(s)) for s in range(2, 6))


def test_eos_pads_and_stops(model):
    idx = torch.tensor([[1], [2]])
    first = generate(model, idx, 1, temperature=0)[:, 1]
    eos = int(first[0])
    out = generate(model, idx, 5, temperature=0, eos_id=eos)
    assert out[0, 1:].eq(eos).all()  # row 0 finished at once and is padded
    if first[1] != eos:
        assert out.shape[1] >= 2


def test_repetition_penalty_discourages_repeats():
    logits = torch.tensor([[2.0, -1.0, 1.0]])
    out = process_logits(logits, torch.tensor([[0, 1]]), repetition_penalty=2.0)
    assert out.tolist() == [[1.0, -2.0, 1.0]]


def test_bad_arguments(model):
    idx = torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, idx, 3, temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        generate(model, idx, 3, top_p=1.5)
    with pytest.raises(ValueError, match="top_p"):
        generate(model, idx, 3, top_p=0)
    with pytest.raises(ValueError, match="top_k"):
        generate(model, idx, 3, top_k=0)
    with pytest.raises(ValueError, match="context of 12"):
        generate(model, torch.zeros(1, 13, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="no tokens"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="int64"):
        generate(model, torch.zeros(1, 2), 3)
    with pytest.raises(TypeError, match="new_cache"):
        generate(torch.nn.Linear(2, 2), idx, 3)
