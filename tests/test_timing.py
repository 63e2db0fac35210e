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
