"""utils.lora: LoRA from scratch, and equal to peft's LoRA with the same weights."""

import pytest
import torch
from torch import nn

from utils import lora as L


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.ModuleDict({"q_proj": nn.Linear(8, 16), "act": nn.ReLU()})
        self.out = nn.Linear(16, 4)

    def forward(self, x):
        return self.out(self.block["act"](self.block["q_proj"](x)))


def tiny_model():
    torch.manual_seed(0)
    return Tiny()


def test_starts_equal_to_the_base_layer_and_only_lora_trains():
    base = nn.Linear(8, 6)
    layer = L.LoRALinear(base, r=2, alpha=4)
    x = torch.randn(3, 8)
    torch.testing.assert_close(layer(x), base(x))
    trainable = {n for n, p in layer.named_parameters() if p.requires_grad}
    assert trainable == {"lora_A.weight", "lora_B.weight"}
    assert layer.delta_weight().shape == (6, 8) and layer.scaling == 2.0


def test_forward_is_base_plus_scaled_low_rank_update():
    layer = L.LoRALinear(nn.Linear(8, 6), r=3, alpha=6)
    with torch.no_grad():
        layer.lora_B.weight.normal_()
    x = torch.randn(5, 8)
    expected = layer.base(x) + x @ (2.0 * layer.lora_B.weight @ layer.lora_A.weight).T
    torch.testing.assert_close(layer(x), expected)


def test_add_lora_counts_freezes_and_trains():
    model = tiny_model()
    n = L.add_lora(model, r=2, alpha=2, target_modules=["q_proj", "out"])
    assert n == (8 * 2 + 2 * 16) + (16 * 2 + 2 * 4)
    assert isinstance(model.block["q_proj"], L.LoRALinear)
    assert isinstance(model.out, L.LoRALinear)
    before = model.block["q_proj"].base.weight.clone()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(3):
        loss = model(torch.randn(4, 8)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.equal(model.block["q_proj"].base.weight, before)  # the base stays frozen
    assert model.out.lora_B.weight.abs().sum() > 0  # the update has moved


def test_merge_gives_the_same_outputs_and_plain_linears():
    model = tiny_model()
    L.add_lora(model, r=2, alpha=3, target_modules=["out", "block.q_proj"])
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, L.LoRALinear):
                m.lora_B.weight.normal_()
    x = torch.randn(7, 8)
    with torch.no_grad():
        before = model(x)
    assert L.merge_lora(model) == 2
    assert not any(isinstance(m, L.LoRALinear) for m in model.modules())
    assert isinstance(model.out, nn.Linear)
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, atol=1e-5, rtol=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match=r"nn\.Linear"):
        L.LoRALinear(nn.Conv1d(2, 2, 1), r=1, alpha=1)
    with pytest.raises(ValueError):
        L.LoRALinear(nn.Linear(2, 2), r=0, alpha=1)
    with pytest.raises(ValueError, match="alpha"):
        L.LoRALinear(nn.Linear(2, 2), r=1, alpha=0)
    with pytest.raises(ValueError, match="no module"):
        L.add_lora(tiny_model(), r=1, alpha=1, target_modules=["v_proj"])
    with pytest.raises(ValueError, match=r"not an nn\.Linear"):
        L.add_lora(tiny_model(), r=1, alpha=1, target_modules=["act"])
    with pytest.raises(ValueError, match="non-empty"):
        L.add_lora(tiny_model(), r=1, alpha=1, target_modules="out")
    model = tiny_model()
    L.add_lora(model, r=1, alpha=1, target_modules=["out"])
    with pytest.raises(ValueError, match="already"):
        L.add_lora(model, r=1, alpha=1, target_modules=["out"])


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")
@pytest.mark.parametrize("targets", [["q_proj", "v_proj"], ["q_proj", "k_proj", "down_proj"]])
def test_equal_to_peft_lora_with_the_same_weights(targets, make_tiny_llama):
    import copy

    from peft import LoraConfig, get_peft_model

    ours = make_tiny_llama(60, intermediate_size=48, max_position_embeddings=32)
    reference = make_tiny_llama(60, intermediate_size=48, max_position_embeddings=32)
    n = L.add_lora(ours, r=4, alpha=8, target_modules=targets)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=targets, bias="none")
    theirs = get_peft_model(copy.deepcopy(reference), config).eval()
    trainable, _ = theirs.get_nb_trainable_parameters()
    assert n == trainable
    with torch.no_grad():  # a nonzero update, the same in both
        for name, module in ours.named_modules():
            if isinstance(module, L.LoRALinear):
                module.lora_B.weight.normal_(std=0.1)
                peft_layer = theirs.base_model.model.get_submodule(name)
                peft_layer.lora_A["default"].weight.copy_(module.lora_A.weight)
                peft_layer.lora_B["default"].weight.copy_(module.lora_B.weight)
    ids = torch.randint(0, 60, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours_logits, theirs_logits = ours(ids).logits, theirs(input_ids=ids).logits
        assert not torch.allclose(ours_logits, reference(ids).logits, atol=1e-3)  # it did move
    torch.testing.assert_close(ours_logits, theirs_logits, atol=1e-5, rtol=1e-5)
    # merging gives peft's merged weights
    L.merge_lora(ours)
    merged = theirs.merge_and_unload()
    for (name, a), (_, b) in zip(
        ours.state_dict().items(), merged.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6, msg=name)
