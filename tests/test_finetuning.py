"""utils.finetuning: length-grouped batches cover every row once; fine-tuning lowers the loss,
is reproducible, respects frozen parameters and the two learning rates; clear errors."""

import pytest
import torch
from torch import nn

from utils import bert as B
from utils import finetuning as F


def test_length_batches_cover_every_index_once_and_group_lengths():
    lengths = torch.randint(3, 60, (100,), generator=torch.Generator().manual_seed(0))
    indices = torch.arange(10, 90)
    batches = F.length_batches(indices, lengths, 8, torch.Generator().manual_seed(1))
    flat = torch.cat(batches)
    assert sorted(flat.tolist()) == indices.tolist()
    assert all(len(b) == 8 for b in batches)
    # grouping by length: less padding than random batches of the same size
    padded = sum(int(lengths[b].max()) * len(b) for b in batches)
    random = sum(int(lengths[b].max()) * len(b) for b in indices.split(8))
    assert padded < random
    again = F.length_batches(indices, lengths, 8, torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))


def _task():
    """A tiny classifier and a learnable task: is token 7 in the sentence?"""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(8, 30, (64, 10), generator=g)
    lengths = torch.randint(4, 11, (64,), generator=g)
    mask = (torch.arange(10) < lengths[:, None]).long()
    labels = torch.randint(0, 2, (64,), generator=g)
    ids[labels == 1, 1] = 7
    ids = ids * mask
    encoder = B.BertEncoder(
        30, d_model=16, num_layers=1, num_heads=2, d_ff=32, max_len=10, dropout=0.0
    )
    return B.BertClassifier(encoder, 2), ids, mask, labels


def test_fine_tuning_learns_and_is_reproducible():
    model, ids, mask, labels = _task()
    steps = []
    kwargs = dict(epochs=30, lr=3e-3, head_lr=3e-3)
    losses = F.fine_tune_classifier(
        model, ids, mask, labels, range(64), on_step=steps.append, **kwargs
    )
    assert len(losses) == 30 * 4 and steps == losses
    assert sum(losses[-8:]) / 8 < 0.3 < 0.6 < sum(losses[:4]) / 4
    assert not model.training
    model2, *_ = _task()
    assert F.fine_tune_classifier(model2, ids, mask, labels, range(64), **kwargs) == losses


def test_frozen_parameters_stay_frozen():
    model, ids, mask, labels = _task()
    before = {n: p.clone() for n, p in model.named_parameters()}
    model.encoder.embeddings.tokens.weight.requires_grad_(False)
    F.fine_tune_classifier(model, ids, mask, labels, range(64), epochs=1)
    table = "encoder.embeddings.tokens.weight"
    assert torch.equal(model.encoder.embeddings.tokens.weight, before[table])
    assert not torch.equal(model.classifier.weight, before["classifier.weight"])


def test_no_weight_decay_on_biases_and_layer_norms():
    model, ids, mask, labels = _task()
    before = {n: p.clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    model.encoder.embeddings.norm.weight.requires_grad_(True)  # a LayerNorm gain, no gradient
    model.encoder.embeddings.norm.weight.register_hook(lambda g: torch.zeros_like(g))
    model.classifier.weight.requires_grad_(True)
    model.classifier.weight.register_hook(lambda g: torch.zeros_like(g))
    F.fine_tune_classifier(model, ids, mask, labels, range(64), epochs=1, weight_decay=0.5)
    # with zero gradients only weight decay can move a parameter
    assert torch.equal(
        model.encoder.embeddings.norm.weight, before["encoder.embeddings.norm.weight"]
    )
    assert (model.classifier.weight.abs() < before["classifier.weight"].abs()).all()


def test_head_learning_rate_applies_to_head_only():
    model, ids, mask, labels = _task()
    before = {n: p.clone() for n, p in model.named_parameters()}
    F.fine_tune_classifier(model, ids, mask, labels, range(64), epochs=1, lr=0.0, head_lr=1e-2)
    for name, p in model.named_parameters():
        changed = not torch.equal(p, before[name])
        head = name.startswith(("classifier", "encoder.pooler"))
        # weight decay also moves nothing when lr = 0
        assert changed == head, name


def test_fine_tune_classifier_rejects_bad_input():
    model, ids, mask, labels = _task()
    with pytest.raises(ValueError, match="attention_mask"):
        F.fine_tune_classifier(model, ids, mask[:, :5], labels, range(64))
    with pytest.raises(ValueError, match="labels"):
        F.fine_tune_classifier(model, ids, mask, labels[:3], range(64))
    with pytest.raises(ValueError, match="empty"):
        F.fine_tune_classifier(model, ids, mask, labels, [])
    with pytest.raises(ValueError, match=r"\[0, 64\)"):
        F.fine_tune_classifier(model, ids, mask, labels, [0, 64])
    with pytest.raises(ValueError, match="batch_size"):
        F.fine_tune_classifier(model, ids, mask, labels, range(64), batch_size=0)
    with pytest.raises(ValueError, match="padded on the right"):
        F.fine_tune_classifier(model, ids, mask.flip(1), labels, range(64))
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable"):
        F.fine_tune_classifier(model, ids, mask, labels, range(64))
    with pytest.raises(ValueError, match="epochs"):
        F.fine_tune_classifier(nn.Linear(2, 2), ids, mask, labels, range(64), epochs=0)


def test_fine_tuning_uses_course_device(monkeypatch):
    model, ids, mask, labels = _task()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="COURSE_DEVICE=cuda asks for an NVIDIA GPU"):
        F.fine_tune_classifier(model, ids, mask, labels, range(64), epochs=1)
    monkeypatch.delenv("COURSE_DEVICE")
    runs = []
    for device in (None, "cpu"):
        model, *_ = _task()
        moves, original = [], model.to
        model.to = lambda d, moves=moves, original=original: moves.append(d) or original(d)
        runs.append(F.fine_tune_classifier(model, ids, mask, labels, range(64), device=device))
        assert [torch.device(d) for d in moves] == [torch.device("cpu")] * 2
        assert not model.training
    assert runs[0] == runs[1]
