"""The Vision Transformer (ViT) of Dosovitskiy et al. (2021), "An Image is Worth 16x16 Words:
Transformers for Image Recognition at Scale", built from chapter 05's encoder.

An image is cut into ``P × P`` patches; each flattened patch is a "word". The model is

    z_0 = [x_class; x_p^1 E; x_p^2 E; ...; x_p^N E] + E_pos,
    z'_l = MSA(LN(z_{l-1})) + z_{l-1},     z_l = MLP(LN(z'_l)) + z'_l,     l = 1..L,
    y = LN(z_L^0),

with ``E`` the ``(P²·C, D)`` patch embedding, ``x_class`` a learned class token, ``E_pos`` learned
position embeddings ``(N + 1, D)``, and a linear head on ``y`` (the class token's final vector).
The blocks are :class:`utils.transformer.Encoder` with ``norm_first=True`` (pre-LN, whose final
LayerNorm is the paper's ``LN`` of ``y``).

* :func:`patchify`: images ``(batch, C, H, W)`` → patches ``(batch, N, C·P·P)``, row by row;
* :class:`PatchEmbedding`: a linear layer on the patches, equal to a ``Conv2d`` with
  ``kernel_size = stride = P`` (:meth:`PatchEmbedding.as_conv2d`);
* :class:`ViTConfig`, :class:`ViT`: the model; :meth:`ViT.attention_maps` returns every layer's
  attention weights, :func:`attention_rollout` combines them across layers;
* :func:`train_classifier`, :func:`accuracy`: the training loop of notebook 09.6 and its metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .env import progress
from .language_modeling import cosine_learning_rate
from .positional import _check_positive_int
from .transformer import ACTIVATIONS, Encoder


def _check_images(images: object, channels: int | None = None) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a tensor (batch, C, H, W), got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"images must be (batch, C, H, W), got shape {tuple(images.shape)}")
    if not images.dtype.is_floating_point:
        raise TypeError(f"images must be floating point, got dtype {images.dtype}")
    if channels is not None and images.shape[1] != channels:
        raise ValueError(
            f"images must have {channels} channel(s), got {images.shape[1]} "
            f"(shape {tuple(images.shape)})"
        )
    return images


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping ``patch_size × patch_size`` patches and flatten each.

    ``images (batch, C, H, W)`` → ``(batch, N, C·P·P)`` with ``N = (H/P)·(W/P)``. Patches come
    row by row (left to right, then top to bottom); each is flattened channel by channel, then
    row by row, the order of a ``Conv2d`` weight ``(out, C, P, P)``. ``H`` and ``W`` must be
    multiples of ``P``.
    """
    _check_positive_int("patch_size", patch_size)
    images = _check_images(images)
    batch, c, h, w = images.shape
    if h % patch_size or w % patch_size:
        raise ValueError(
            f"image size {h}×{w} is not divisible by patch_size={patch_size}: "
            f"expected height and width multiples of {patch_size}"
        )
    p = patch_size
    x = images.reshape(batch, c, h // p, p, w // p, p)  # (batch, C, rows, P, cols, P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (batch, rows, cols, C, P, P)
    return x.reshape(batch, (h // p) * (w // p), c * p * p)


class PatchEmbedding(nn.Module):
    """Patches → vectors: ``images (batch, C, H, W)`` → ``(batch, N, d_model)``, the paper's
    ``x_p^i E`` (plus a bias), one linear layer applied to every flattened patch."""

    def __init__(self, patch_size: int, channels: int, d_model: int) -> None:
        super().__init__()
        for name, value in (("patch_size", patch_size), ("channels", channels)):
            _check_positive_int(name, value)
        _check_positive_int("d_model", d_model)
        self.patch_size, self.channels = patch_size, channels
        self.proj = nn.Linear(channels * patch_size * patch_size, d_model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, self.channels)
        return self.proj(patchify(images, self.patch_size))

    def as_conv2d(self) -> nn.Conv2d:
        """The same map as a ``Conv2d(C, d_model, kernel_size=P, stride=P)`` (how most ViT code
        writes it): its output ``(batch, d_model, H/P, W/P)``, flattened and transposed, equals
        :meth:`forward`'s."""
        p, d_model = self.patch_size, self.proj.out_features
        conv = nn.Conv2d(self.channels, d_model, kernel_size=p, stride=p)
        with torch.no_grad():
            conv.weight.copy_(self.proj.weight.reshape(d_model, self.channels, p, p))
            conv.bias.copy_(self.proj.bias)
        return conv.to(self.proj.weight.device, self.proj.weight.dtype)


@dataclass
class ViTConfig:
    """The sizes of a ViT. ViT-Base/16 on 224 × 224 colour images is ``ViTConfig(224, 16, 3,
    1000, 768, 12, 12, 3072)``; the course's digits model is far smaller."""

    image_size: int = 8
    patch_size: int = 2
    channels: int = 1
    num_classes: int = 10
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 3
    d_ff: int = 128
    dropout: float = 0.0
    activation: str = "gelu"  # the paper's MLP uses GELU
    use_positions: bool = True  # False: no E_pos, the model cannot tell where a patch was

    def __post_init__(self) -> None:
        for name in ("image_size", "patch_size", "channels", "num_classes", "d_model",
                     "num_heads", "num_layers", "d_ff"):  # fmt: skip
            _check_positive_int(name, getattr(self, name))
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size={self.image_size} is not divisible by patch_size={self.patch_size}"
            )
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )

    @property
    def num_patches(self) -> int:
        """``N = (image_size / patch_size)²``; the model's sequence has ``N + 1`` positions."""
        return (self.image_size // self.patch_size) ** 2


class ViT(nn.Module):
    """A Vision Transformer classifier: ``images (batch, C, H, W)`` → logits
    ``(batch, num_classes)``.

    Position 0 of the sequence is the class token; positions ``1..N`` are the patches in
    :func:`patchify`'s order. :meth:`encode` returns the whole final sequence
    ``(batch, N + 1, d_model)``, :meth:`attention_maps` the attention weights of every layer.
    """

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        if not isinstance(config, ViTConfig):
            raise TypeError(f"config must be a ViTConfig, got {type(config).__name__}")
        self.config = c = config
        self.patch_embed = PatchEmbedding(c.patch_size, c.channels, c.d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.d_model))  # x_class
        self.pos_embed = nn.Parameter(torch.zeros(1, c.num_patches + 1, c.d_model))  # E_pos
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.02)
        if not c.use_positions:
            self.pos_embed.requires_grad_(False)
            nn.init.zeros_(self.pos_embed)
        self.dropout = nn.Dropout(c.dropout)
        # chapter 05's encoder, pre-LN (its final LayerNorm is the paper's y = LN(z_L^0))
        self.encoder = Encoder(
            c.num_layers, c.d_model, c.num_heads, c.d_ff, c.dropout, norm_first=True
        )
        for layer in self.encoder.layers:
            layer.ff.activation = c.activation  # Encoder builds ReLU layers; the paper uses GELU
        self.head = nn.Linear(c.d_model, c.num_classes)

    def _check(self, images: torch.Tensor) -> None:
        _check_images(images, self.config.channels)
        size = self.config.image_size
        if tuple(images.shape[2:]) != (size, size):
            raise ValueError(
                f"images must be {size}×{size} (the position embeddings are learned for "
                f"{self.config.num_patches} patches), got {tuple(images.shape[2:])}"
            )

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """``z_0``: ``images (batch, C, H, W)`` → ``(batch, N + 1, d_model)``."""
        self._check(images)
        patches = self.patch_embed(images)  # (batch, N, d_model)
        cls = self.cls_token.expand(images.shape[0], -1, -1)  # (batch, 1, d_model)
        return self.dropout(torch.cat([cls, patches], dim=1) + self.pos_embed)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The final sequence after the encoder and its LayerNorm, ``(batch, N + 1, d_model)``;
        position 0 is ``y``."""
        return self.encoder(self.embed(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(images)[:, 0])

    @torch.no_grad()
    def attention_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's attention weights for ``images``: a list of ``num_layers`` tensors
        ``(batch, num_heads, N + 1, N + 1)`` (rows: queries, columns: keys; index 0 is the
        class token). Runs the model once in eval mode (no dropout) and reads what each
        :class:`~utils.transformer.EncoderLayer` keeps in ``self_weights``."""
        was_training = self.training
        self.eval()
        try:
            self.encode(images)
            return [layer.self_weights.clone() for layer in self.encoder.layers]
        finally:
            self.train(was_training)


def attention_rollout(maps: list[torch.Tensor]) -> torch.Tensor:
    """Attention rollout (Abnar and Zuidema, 2020, "Quantifying Attention Flow in
    Transformers"): average each layer's weights over heads, add the identity for the residual
    connection and renormalise the rows, ``A_l = (mean_h W_l + I) / 2``, then multiply the
    layers, ``A_L ⋯ A_1``.

    ``maps``: a list of ``(batch, heads, seq, seq)`` (as :meth:`ViT.attention_maps` returns)
    → ``(batch, seq, seq)``, each row summing to 1: how much each final position draws on each
    input position, through every path.
    """
    if not maps or not all(isinstance(m, torch.Tensor) and m.dim() == 4 for m in maps):
        raise ValueError("maps must be a non-empty list of (batch, heads, seq, seq) tensors")
    if len({(m.shape[0], m.shape[2], m.shape[3]) for m in maps}) != 1 or (
        maps[0].shape[-1] != maps[0].shape[-2]
    ):
        raise ValueError(f"maps must share (batch, seq, seq), got {[tuple(m.shape) for m in maps]}")
    eye = torch.eye(maps[0].shape[-1], dtype=maps[0].dtype, device=maps[0].device)
    rollout = eye.expand(maps[0].shape[0], -1, -1)
    for weights in maps:
        a = (weights.mean(dim=1) + eye) / 2
        rollout = a @ rollout
    return rollout


# --------------------------------------------------------------------------------- training
def _check_data(images: object, labels: object) -> None:
    _check_images(images)
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.dtype != torch.int64:
        raise TypeError(
            f"labels must be an int64 tensor (batch,), got {getattr(labels, 'shape', labels)}"
        )
    if labels.shape[0] != images.shape[0]:  # type: ignore[union-attr]
        raise ValueError(
            f"images and labels must have the same length, got {images.shape[0]} and "  # type: ignore[union-attr]
            f"{labels.shape[0]}"
        )


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of ``images (n, C, H, W)`` whose most likely class is ``labels (n,)``
    (eval mode)."""
    from .env import module_device

    _check_data(images, labels)
    was_training = model.training
    model.eval()
    device = module_device(model)  # the images go where the model is
    try:
        predicted = model(images.to(device)).argmax(dim=-1)
        return (predicted == labels.to(device)).float().mean().item()
    finally:
        model.train(was_training)


def train_classifier(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 0.05,
    seed: int = 0,
    eval_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    eval_every: int = 50,
    desc: str | None = None,
    device: torch.device | str | None = None,
) -> tuple[list[float], list[tuple[int, float]]]:
    """Train an image classifier with AdamW and cross-entropy on random batches (drawn with a
    generator seeded by ``seed``), the learning rate warmed up for ``steps // 10`` steps then
    decayed along a cosine (07.1's :func:`~utils.language_modeling.cosine_learning_rate`).

    ``images (n, C, H, W)``, ``labels (n,)``. Returns the loss of every step and, if
    ``eval_data = (images, labels)`` is given, ``(step, accuracy)`` every ``eval_every`` steps.
    The model is left in eval mode. ``desc`` shows a progress bar.

    ``device``: where to train; ``None`` reads ``COURSE_DEVICE`` (:func:`utils.env.device`, the
    CPU by default). The model moves there for the training and back to its own device after;
    the batches are drawn on the CPU and moved there.
    """
    from .env import on_device

    _check_data(images, labels)
    _check_positive_int("steps", steps)
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("eval_every", eval_every)
    with on_device(model, device) as device:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        generator = torch.Generator().manual_seed(seed)  # fixes the batches
        losses, curve = [], []
        for step in progress(range(steps), desc=desc) if desc else range(steps):
            for group in optimizer.param_groups:
                group["lr"] = cosine_learning_rate(step, steps=steps, warmup=steps // 10, lr=lr)
            model.train()
            batch = torch.randint(0, len(labels), (batch_size,), generator=generator)
            x, y = images[batch].to(device), labels[batch].to(device)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if eval_data is not None and (step + 1) % eval_every == 0:
                curve.append((step + 1, accuracy(model, *eval_data)))
        model.eval()
    return losses, curve


def clip_loss(
    image_vectors: torch.Tensor, text_vectors: torch.Tensor, temperature: float = 0.07
) -> torch.Tensor:
    """CLIP's symmetric contrastive (InfoNCE) loss over a batch of matched pairs (09.6).

    ``image_vectors`` and ``text_vectors``: ``(n, d)``, row ``i`` of each is a matched pair.
    Cosine similarities divided by ``temperature`` are the logits of an ``n``-way
    classification, once over captions for each image and once over images for each caption;
    the loss is the mean of the two cross-entropies (Radford et al., 2021). A scalar.
    """
    for name, x in (("image_vectors", image_vectors), ("text_vectors", text_vectors)):
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must be a (n, d) tensor, got {shape}")
    if image_vectors.shape != text_vectors.shape:
        raise ValueError(
            f"image_vectors {tuple(image_vectors.shape)} and text_vectors "
            f"{tuple(text_vectors.shape)} must have the same shape (n pairs, d)"
        )
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or temperature <= 0
    ):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    u = F.normalize(image_vectors, dim=-1)  # (n, d), unit length
    v = F.normalize(text_vectors, dim=-1)  # (n, d)
    logits = u @ v.T / temperature  # (n, n): s_ij / τ
    targets = torch.arange(len(u), device=u.device)  # pair i is (image i, caption i)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
