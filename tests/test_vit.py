"""utils.vit: patching (order, Conv2d equivalence), shapes, the class token, attention maps,
rollout, the training loop, and bad input."""

import pytest
import torch
from torch import nn

from utils import vit as V
from utils.vit import (
    PatchEmbedding,
    ViT,
    ViTConfig,
    accuracy,
    attention_rollout,
    patchify,
    train_classifier,
)


def small(**kw):
    args = dict(image_size=8, patch_size=2, d_model=16, num_heads=2, num_layers=2, d_ff=32) | kw
    return ViT(ViTConfig(**args)).eval()


def test_patchify_by_hand():
    image = torch.arange(16.0).reshape(1, 1, 4, 4)  # rows 0-3, 4-7, 8-11, 12-15
    patches = patchify(image, 2)
    expected = torch.tensor(
        [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]], dtype=torch.float32
    )
    assert patches.shape == (1, 4, 4)
    torch.testing.assert_close(patches[0], expected)


def test_patchify_channels_come_first_in_a_patch():
    image = torch.stack([torch.zeros(4, 4), torch.ones(4, 4)]).unsqueeze(0)  # (1, 2, 4, 4)
    patches = patchify(image, 2)
    assert patches.shape == (1, 4, 8)
    torch.testing.assert_close(patches[0, 0], torch.tensor([0.0] * 4 + [1.0] * 4))


@pytest.mark.parametrize("shape, p", [((3, 1, 8, 8), 2), ((2, 3, 12, 8), 4), ((1, 2, 6, 6), 1)])
def test_patchify_shape_and_round_trip(shape, p):
    torch.manual_seed(0)
    images = torch.randn(shape)
    patches = patchify(images, p)
    b, c, h, w = shape
    assert patches.shape == (b, (h // p) * (w // p), c * p * p)
    back = patches.reshape(b, h // p, w // p, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(shape)
    torch.testing.assert_close(back, images)  # nothing lost, nothing repeated


@pytest.mark.parametrize("channels, p", [(1, 2), (3, 4)])
def test_patch_embedding_equals_conv2d(channels, p):
    torch.manual_seed(0)
    embed = PatchEmbedding(p, channels, 16)
    images = torch.randn(2, channels, 8, 8)
    conv = embed.as_conv2d()
    expected = conv(images).flatten(2).transpose(1, 2)  # (batch, N, d_model)
    torch.testing.assert_close(embed(images), expected)
    # and from an independent Conv2d to a linear layer
    other = nn.Conv2d(channels, 16, kernel_size=p, stride=p)
    with torch.no_grad():
        embed.proj.weight.copy_(other.weight.flatten(1))
        embed.proj.bias.copy_(other.bias)
    torch.testing.assert_close(embed(images), other(images).flatten(2).transpose(1, 2))


def test_output_shapes():
    torch.manual_seed(0)
    model = small()
    images = torch.rand(5, 1, 8, 8)
    assert model(images).shape == (5, 10)
    assert model.embed(images).shape == (5, 17, 16)
    assert model.encode(images).shape == (5, 17, 16)
    maps = model.attention_maps(images)
    assert len(maps) == 2 and all(m.shape == (5, 2, 17, 17) for m in maps)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(5, 2, 17))


def test_class_token_is_position_zero_and_only_it_reaches_the_head():
    torch.manual_seed(0)
    model = small()
    images = torch.rand(3, 1, 8, 8)
    z0 = model.embed(images)
    torch.testing.assert_close(z0[:, 0], (model.cls_token[0] + model.pos_embed[:, 0]).expand(3, -1))
    encoded = model.encode(images)
    torch.testing.assert_close(model(images), model.head(encoded[:, 0]))
    assert not torch.allclose(model.head(encoded[:, 1]), model(images))  # the check can fail


def test_attention_maps_equal_a_recomputation():
    torch.manual_seed(0)
    model = small()
    images = torch.rand(2, 1, 8, 8)
    maps = model.attention_maps(images)
    layer = model.encoder.layers[0]
    x = layer.norm1(model.embed(images))
    attn = layer.self_attn
    q, k = attn.split_heads(attn.q_proj(x)), attn.split_heads(attn.k_proj(x))
    expected = torch.softmax(q @ k.transpose(-2, -1) / attn.d_k**0.5, dim=-1)
    torch.testing.assert_close(maps[0], expected)


def test_positions_make_the_model_see_where_a_patch_is():
    torch.manual_seed(0)
    images = torch.rand(2, 1, 8, 8)
    flipped = images.flip(-1).flip(-2)  # the same patches (reversed inside) in another order
    swapped = images.clone()  # swap the first two 2×2 patches
    swapped[..., 0:2, 0:2], swapped[..., 0:2, 2:4] = images[..., 0:2, 2:4], images[..., 0:2, 0:2]
    no_pos = small(use_positions=False)
    torch.testing.assert_close(no_pos(swapped), no_pos(images))  # permutation invariant
    with_pos = small()
    with torch.no_grad():
        with_pos.pos_embed.normal_()
    assert not torch.allclose(with_pos(swapped), with_pos(images))
    assert not torch.allclose(no_pos(flipped), no_pos(images))
    assert not no_pos.pos_embed.requires_grad


def test_rollout():
    torch.manual_seed(0)
    maps = [torch.softmax(torch.randn(2, 3, 5, 5), -1) for _ in range(3)]
    rollout = attention_rollout(maps)
    eye = torch.eye(5)
    expected = torch.eye(5).expand(2, 5, 5)
    for m in maps:
        expected = ((m.mean(1) + eye) / 2) @ expected
    torch.testing.assert_close(rollout, expected)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(2, 5))
    torch.testing.assert_close(attention_rollout(maps[:1]), (maps[0].mean(1) + eye) / 2)
    with pytest.raises(ValueError, match="non-empty"):
        attention_rollout([])
    with pytest.raises(ValueError, match="share"):
        attention_rollout([maps[0], torch.rand(2, 3, 4, 4)])


def test_training_learns_a_separable_task_and_repeats():
    torch.manual_seed(0)
    images = torch.rand(64, 1, 8, 8) * 0.1
    labels = torch.arange(64) % 2
    images[labels == 1, :, :4] += 1.0  # class 1: bright top half
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = small(num_classes=2)
        losses, curve = train_classifier(
            model, images, labels, steps=30, batch_size=16, lr=3e-3, eval_data=(images, labels),
            eval_every=10,
        )  # fmt: skip
        runs.append(losses)
    assert runs[0] == runs[1]  # the seed fixes the batches
    assert [s for s, _ in curve] == [10, 20, 30]
    assert accuracy(model, images, labels) == 1.0
    assert not model.training


def test_bad_input():
    model = small()
    with pytest.raises(ValueError, match="not divisible by patch_size=3"):
        patchify(torch.rand(1, 1, 8, 8), 3)
    with pytest.raises(ValueError, match="patch_size must be a positive int"):
        patchify(torch.rand(1, 1, 8, 8), 0)
    with pytest.raises(ValueError, match=r"\(batch, C, H, W\)"):
        patchify(torch.rand(8, 8), 2)
    with pytest.raises(TypeError, match="floating point"):
        patchify(torch.zeros(1, 1, 8, 8, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="1 channel"):
        model(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="8×8"):
        model(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="image_size=10 is not divisible by patch_size=4"):
        ViTConfig(image_size=10, patch_size=4)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        ViTConfig(d_model=30, num_heads=4)
    with pytest.raises(ValueError, match="activation"):
        ViTConfig(activation="tanh")
    with pytest.raises(TypeError, match="ViTConfig"):
        ViT(dict(image_size=8))
    with pytest.raises(TypeError, match="labels"):
        accuracy(model, torch.rand(2, 1, 8, 8), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="same length"):
        accuracy(model, torch.rand(2, 1, 8, 8), torch.tensor([0, 1, 2]))


def test_clip_loss_by_hand_and_its_bounds():
    import math

    gen = torch.Generator().manual_seed(0)
    u, v = torch.randn(5, 7, generator=gen), torch.randn(5, 7, generator=gen)
    s = torch.nn.functional.normalize(u, dim=-1) @ torch.nn.functional.normalize(v, dim=-1).T
    s = s.tolist()
    tau, n = 0.1, 5
    by_hand = sum(
        -math.log(math.exp(s[i][i] / tau) / sum(math.exp(s[i][j] / tau) for j in range(n)))
        - math.log(math.exp(s[i][i] / tau) / sum(math.exp(s[j][i] / tau) for j in range(n)))
        for i in range(n)
    ) / (2 * n)
    assert math.isclose(V.clip_loss(u, v, tau).item(), by_hand, rel_tol=1e-5)
    assert V.clip_loss(u, u, 0.01).item() < 1e-3  # identical pairs, sharp temperature
    with pytest.raises(ValueError, match="same shape"):
        V.clip_loss(u, v[:4])
    with pytest.raises(ValueError, match="temperature"):
        V.clip_loss(u, v, 0)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        V.clip_loss(u[0], v[0])


def test_training_uses_course_device(monkeypatch):
    images, labels = torch.rand(16, 1, 8, 8), torch.arange(16) % 2
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="COURSE_DEVICE=cuda asks for an NVIDIA GPU"):
        train_classifier(small(num_classes=2), images, labels, steps=2, batch_size=4)
    monkeypatch.delenv("COURSE_DEVICE")
    runs = []
    for device in (None, "cpu"):
        torch.manual_seed(1)
        model = small(num_classes=2)
        moves, original = [], model.to
        model.to = lambda d, moves=moves, original=original: moves.append(d) or original(d)
        runs.append(train_classifier(model, images, labels, steps=4, batch_size=4, device=device))
        assert [torch.device(d) for d in moves] == [torch.device("cpu")] * 2
        assert not model.training
    assert runs[0] == runs[1]
