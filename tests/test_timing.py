"""utils.timing.kernels: which ATen operators a call runs."""

import pytest
import torch
from torch.nn import functional as F

from utils import timing


def test_kernels_lists_the_operators_in_order():
    x = torch.ones(3)
    assert timing.kernels(lambda: (x + 1) * 2) == ["aten.add.Tensor", "aten.mul.Tensor"]


def test_kernels_sees_inside_fused_attention():
    q = torch.randn(1, 2, 8, 4)
    with torch.no_grad():
        names = timing.kernels(lambda: F.scaled_dot_product_attention(q, q, q))
    assert any("scaled_dot_product" in n for n in names)
    with pytest.raises(TypeError, match="callable"):
        timing.kernels(42)


def test_allocated_bytes_counts_new_tensors_not_views():
    x = torch.ones(100, 10)  # 4,000 bytes
    assert timing.allocated_bytes(lambda: x.view(10, 100).T.reshape(100, 10)[:5]) == 0
    assert timing.allocated_bytes(lambda: x + 1) == 4000
    assert timing.allocated_bytes(lambda: (x + 1).sum()) == 4004
    with pytest.raises(TypeError, match="callable"):
        timing.allocated_bytes(None)


def test_allocated_bytes_sees_the_n_by_n_matrices_of_attention():
    from utils.attention import scaled_dot_product_attention

    q = torch.randn(1, 1, 256, 8)
    with torch.no_grad():
        ours = timing.allocated_bytes(lambda: scaled_dot_product_attention(q, q, q))
        fused = timing.allocated_bytes(lambda: F.scaled_dot_product_attention(q, q, q))
    n_by_n = 256 * 256 * 4
    assert ours >= 3 * n_by_n  # scores, scaled scores, softmax
    assert fused < n_by_n
