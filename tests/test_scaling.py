"""utils.scaling: parameter counts by hand, 6ND, power-law fits on known data, Chinchilla's rule,
bad input."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from utils import scaling as S
from utils.gpt import GPT, GPTConfig


def hand_count(vocab_size, block_size, n_layer, n_embd):
    """GPT-2's parameters, tensor by tensor (09.1): per block ln_1 2d, c_attn 3d² + 3d, c_proj
    d² + d, ln_2 2d, c_fc 4d² + 4d, mlp c_proj 4d² + d; ln_f 2d; tied wte and wpe."""
    d = n_embd
    attention = (3 * d * d + 3 * d) + (d * d + d)
    mlp = (4 * d * d + 4 * d) + (4 * d * d + d)
    per_block = 2 * d + attention + 2 * d + mlp
    non_embedding = n_layer * per_block + 2 * d
    return non_embedding, non_embedding + vocab_size * d + block_size * d


@pytest.mark.parametrize("n_layer,n_embd,n_head", [(1, 16, 1), (2, 24, 2), (3, 48, 4)])
def test_count_parameters_equals_hand_count_for_gpt(n_layer, n_embd, n_head):
    with torch.device("meta"):
        model = GPT(GPTConfig(81, 64, n_layer, n_head, n_embd))
    non_embedding, total = hand_count(81, 64, n_layer, n_embd)
    assert S.count_parameters(model, non_embedding=True) == non_embedding
    assert S.count_parameters(model) == total


def test_gpt2_small_count():
    with torch.device("meta"):
        model = GPT(GPTConfig(50257, 1024, 12, 12, 768))
    assert S.count_parameters(model) == 124_439_808  # the tied lm_head is counted once
    assert S.count_parameters(model, non_embedding=True) == 124_439_808 - (50257 + 1024) * 768


def test_untied_output_layer_counts_as_non_embedding():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10, bias=False))
    assert S.count_parameters(model) == 80
    assert S.count_parameters(model, non_embedding=True) == 40


def test_training_flops():
    assert S.training_flops(7e9, 140e9) == pytest.approx(5.88e21)
    assert S.training_flops(3, 5) == 90.0


def test_fit_power_law_recovers_a_known_exponent():
    rng = np.random.default_rng(0)
    n = np.logspace(3, 7, 12)
    exact = 5.0 * n**-0.076
    fit = S.fit_power_law(n, exact)
    assert fit.exponent == pytest.approx(0.076, rel=1e-9)
    assert fit.coefficient == pytest.approx(5.0, rel=1e-9)
    assert fit(1e5) == pytest.approx(5.0 * 1e5**-0.076)
    noisy = exact * np.exp(rng.normal(0, 0.01, len(n)))
    assert S.fit_power_law(n, noisy).exponent == pytest.approx(0.076, abs=0.01)


def test_fit_power_law_equals_numpy_polyfit():
    x, y = [3e3, 1e4, 5e4, 2e5], [2.8, 2.6, 2.55, 2.4]
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    fit = S.fit_power_law(x, y)
    assert fit.exponent == pytest.approx(-slope)
    assert fit.coefficient == pytest.approx(math.exp(intercept))


def test_chinchilla_optimal_is_20_tokens_per_parameter():
    n, d = S.chinchilla_optimal(S.training_flops(70e9, 1.4e12))
    assert n == pytest.approx(70e9) and d == pytest.approx(1.4e12)
    n, d = S.chinchilla_optimal(1e21, tokens_per_parameter=100)
    assert d == pytest.approx(100 * n) and 6 * n * d == pytest.approx(1e21)


def test_chinchilla_loss():
    c = S.CHINCHILLA
    assert S.chinchilla_loss(1e9, 1e10) == pytest.approx(
        c["E"] + c["A"] / 1e9 ** c["alpha"] + c["B"] / 1e10 ** c["beta"]
    )
    assert S.chinchilla_loss(1e12, 1e15) > c["E"]  # never below the irreducible loss
    assert S.chinchilla_loss(1e9, 1e11) < S.chinchilla_loss(1e9, 1e10)  # more data helps


def test_bad_input():
    with pytest.raises(TypeError, match=r"nn\.Module"):
        S.count_parameters([torch.zeros(3)])
    with pytest.raises(ValueError, match="same length"):
        S.fit_power_law([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2"):
        S.fit_power_law([1], [1])
    with pytest.raises(ValueError, match="positive"):
        S.fit_power_law([1, 2], [1, 0])
    with pytest.raises(ValueError, match="different values"):
        S.fit_power_law([3, 3], [1, 2])
    with pytest.raises(ValueError, match="positive"):
        S.training_flops(-1, 10)
    with pytest.raises(TypeError, match="positive number"):
        S.chinchilla_optimal("1e21")
    with pytest.raises(ValueError, match="positive"):
        S.chinchilla_optimal(1e21, tokens_per_parameter=0)
    with pytest.raises(TypeError):
        S.training_flops(True, 10)


def test_numpy_numbers_are_accepted():
    assert S.training_flops(np.int64(3), np.float32(5)) == 90.0
