"""utils.positional: sinusoidal encodings against the formula, shift matrices, RoPE, errors."""

import math

import pytest
import torch

from utils import positional as P


def test_sinusoidal_values_against_the_formula():
    pe = P.sinusoidal_positional_encoding(50, 16)
    assert pe.shape == (50, 16) and pe.dtype == torch.float32
    for pos in (0, 1, 7, 49):
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert pe[0, 0::2].eq(0).all() and pe[0, 1::2].eq(1).all()


def test_sinusoidal_other_base_and_dtype():
    pe = P.sinusoidal_positional_encoding(4, 4, base=100.0, dtype=torch.float64)
    assert pe.dtype == torch.float64
    assert pe[3, 2].item() == pytest.approx(math.sin(3 / 100 ** (2 / 4)))


@pytest.mark.parametrize(
    ("max_len", "d_model", "error", "match"),
    [
        (10, 7, ValueError, "d_model must be even .* got 7"),
        (10, 0, ValueError, "d_model must be a positive int, got 0"),
        (0, 8, ValueError, "max_len must be a positive int, got 0"),
        (10, 2.0, TypeError, "d_model must be a positive int, got float 2.0"),
        (10.0, 8, TypeError, "max_len must be a positive int, got float 10.0"),
    ],
)
def test_sinusoidal_bad_sizes(max_len, d_model, error, match):
    with pytest.raises(error, match=match):
        P.sinusoidal_positional_encoding(max_len, d_model)
    with pytest.raises(ValueError, match="base must be a number > 1, got 1"):
        P.sinusoidal_positional_encoding(10, 8, base=1)


def test_the_old_private_checker_is_the_shared_one():
    """Other modules import positional._check_positive_int: it is utils.validation's."""
    from utils.validation import check_positive_int

    assert P._check_positive_int is check_positive_int


def test_every_position_has_unit_pair_norms_and_a_distinct_code():
    pe = P.sinusoidal_positional_encoding(200, 32, dtype=torch.float64)
    pair_norms = pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2
    torch.testing.assert_close(pair_norms, torch.ones_like(pair_norms))
    distances = torch.cdist(pe, pe) + torch.eye(200) * 10
    assert distances.min() > 0.1


@pytest.mark.parametrize("k", [1, 5, 37, -3])
def test_shift_matrix_moves_every_position_by_k(k):
    pe = P.sinusoidal_positional_encoding(100, 24, dtype=torch.float64)
    m = P.shift_matrix(k, 24)
    if k > 0:
        torch.testing.assert_close(pe[:-k] @ m.T, pe[k:])
    else:
        torch.testing.assert_close(pe[-k:] @ m.T, pe[:k])
    torch.testing.assert_close(m @ m.T, torch.eye(24, dtype=torch.float64))  # a rotation


def test_dot_product_depends_only_on_distance():
    pe = P.sinusoidal_positional_encoding(120, 64, dtype=torch.float64)
    for k in (1, 4, 20):
        dots = (pe[:-k] * pe[k:]).sum(-1)
        torch.testing.assert_close(dots, dots[:1].expand_as(dots))


def test_sinusoidal_layer_adds_the_table():
    layer = P.SinusoidalPositionalEncoding(8, max_len=20)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(layer(x), x + P.sinusoidal_positional_encoding(20, 8)[:5])
    assert len(list(layer.parameters())) == 0
    with pytest.raises(ValueError, match="longer than max_len=20"):
        layer(torch.zeros(1, 21, 8))
    with pytest.raises(
        ValueError, match=r"x must be \(batch, seq, d_model=8\), got shape \(5, 8\)"
    ):
        layer(torch.zeros(5, 8))
    with pytest.raises(ValueError, match=r"got shape \(1, 5, 6\)"):
        layer(torch.zeros(1, 5, 6))


def test_learned_layer_has_one_vector_per_position():
    torch.manual_seed(0)
    layer = P.LearnedPositionalEmbedding(8, max_len=10)
    x = torch.zeros(3, 4, 8)
    out = layer(x)
    torch.testing.assert_close(out[0], layer.embedding.weight[:4])
    torch.testing.assert_close(out[0], out[2])
    assert sum(p.numel() for p in layer.parameters()) == 80
    with pytest.raises(ValueError, match="longer than max_len=10"):
        layer(torch.zeros(1, 11, 8))


def test_rotary_keeps_norms_and_depends_on_distance_only():
    g = torch.Generator().manual_seed(0)
    q, k = (
        torch.randn(16, generator=g, dtype=torch.float64),
        torch.randn(16, generator=g, dtype=torch.float64),
    )
    seq = 30
    qs, ks = P.apply_rotary(q.expand(seq, 16)), P.apply_rotary(k.expand(seq, 16))
    torch.testing.assert_close(qs.norm(dim=-1), q.norm().expand(seq))
    scores = qs @ ks.T  # (m, n): a function of m - n only
    for offset in (-5, 0, 3):
        diagonal = torch.diagonal(scores, offset)
        torch.testing.assert_close(diagonal, diagonal[:1].expand_as(diagonal))
    torch.testing.assert_close(P.apply_rotary(q[None]), q[None])  # position 0: no rotation


def test_rotary_equals_the_shift_matrix_rotation():
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    out = P.apply_rotary(x, positions=torch.arange(6))
    # Both are 2x2 rotations per pair; the shift matrix acts on (sin, cos) pairs, whose angle
    # runs the other way round in (even, odd) coordinates, hence -p.
    for p in range(6):
        torch.testing.assert_close(out[:, p], x[:, p] @ P.shift_matrix(-p, 8).T)


def test_rotary_bad_input():
    with pytest.raises(ValueError, match=r"last dimension of x must be even .* got 5"):
        P.apply_rotary(torch.zeros(4, 5))
    with pytest.raises(TypeError, match="positions must be a tensor"):
        P.apply_rotary(torch.zeros(3, 4), positions=[0, 1, 2])
    with pytest.raises(ValueError, match="x must be a tensor"):
        P.apply_rotary(torch.zeros(4))
    with pytest.raises(ValueError, match=r"positions must be \(seq=4,\), got shape \(3,\)"):
        P.apply_rotary(torch.zeros(4, 6), positions=torch.arange(3))
    with pytest.raises(TypeError, match="x must be a tensor"):
        P.apply_rotary([[0.0, 1.0]])
    with pytest.raises(TypeError, match="k must be an int, got float"):
        P.shift_matrix(1.0, 8)


def test_sinusoidal_layer_keeps_float64_precision():
    layer = P.SinusoidalPositionalEncoding(8, max_len=20)
    x = torch.zeros(1, 20, 8, dtype=torch.float64)
    out = layer(x)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out[0], P.sinusoidal_positional_encoding(20, 8, dtype=torch.float64))
