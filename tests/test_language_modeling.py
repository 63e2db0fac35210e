"""utils.language_modeling: batches, the schedule, the loss estimate, training, baselines."""

import math

import pytest
import torch

from utils import language_modeling as LM
from utils.gpt import GPT, GPTConfig
from utils.llama import Llama, LlamaConfig


def test_get_batch_shifts_by_one_and_is_seeded():
    ids = torch.arange(100)
    x, y = LM.get_batch(ids, 4, 8, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y, x + 1)  # ids are consecutive, so the shift is +1
    x2, _ = LM.get_batch(ids, 4, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)


def test_get_batch_bad_input():
    with pytest.raises(ValueError, match="1-D int64"):
        LM.get_batch(torch.zeros(10), 2, 4)
    with pytest.raises(ValueError, match="too few"):
        LM.get_batch(torch.arange(5), 2, 5)
    with pytest.raises(ValueError):
        LM.get_batch(torch.arange(50), 0, 5)


def test_cosine_learning_rate():
    lr = lambda s: LM.cosine_learning_rate(s, steps=100, warmup=10, lr=1.0)  # noqa: E731
    assert lr(0) == pytest.approx(0.1)
    assert lr(9) == pytest.approx(1.0)
    assert lr(10) == pytest.approx(1.0)
    assert lr(55) == pytest.approx(0.5)
    assert lr(100) == pytest.approx(0.0, abs=1e-12)


def test_unigram_loss_and_bits_per_char():
    train = torch.tensor([0, 0, 0, 1])
    # add-one counts 4 and 2 (and 1 for the unseen token 2): p(0) = 4/7
    assert LM.unigram_loss(train, torch.tensor([0]), 3) == pytest.approx(-math.log(4 / 7))
    assert LM.bits_per_char(math.log(2), 0.5) == pytest.approx(0.5)


@pytest.mark.parametrize("kind", ["gpt", "llama"])
def test_train_lm_learns_a_repeating_sequence(kind):
    torch.manual_seed(0)
    ids = torch.tensor([0, 1, 2, 3, 4, 5] * 60)
    if kind == "gpt":
        model = GPT(GPTConfig(vocab_size=6, block_size=8, n_layer=1, n_head=2, n_embd=16))
    else:
        model = Llama(LlamaConfig(6, 16, 1, 2, 1, 32, max_position_embeddings=8))
    before = LM.estimate_loss(model, ids)
    history = LM.train_lm(
        model, ids, ids, steps=60, batch_size=8, lr=1e-2, warmup=5, eval_every=20, desc=None
    )
    assert history["step"] == [0, 20, 40, 60]
    assert len(history["validation"]) == 4
    assert history["train"][0] == pytest.approx(before)
    assert history["train"][-1] < 0.2 < 1.0 < before  # the sequence is deterministic
    assert history["train"][-1] == LM.estimate_loss(model, ids)  # same windows every call


def test_train_lm_bad_arguments():
    model = GPT(GPTConfig(vocab_size=6, block_size=8, n_layer=1, n_head=2, n_embd=16))
    ids = torch.arange(6).repeat(10)
    with pytest.raises(ValueError, match="warmup"):
        LM.train_lm(model, ids, steps=10, batch_size=2, lr=1e-3, warmup=10, desc=None)
    with pytest.raises(ValueError):
        LM.train_lm(model, ids, steps=0, batch_size=2, lr=1e-3, desc=None)


def _spy_on_moves(model):
    """Record the devices ``model.to`` is called with."""
    moves, original = [], model.to

    def to(*args, **kwargs):
        moves.append(torch.device(args[0]))
        return original(*args, **kwargs)

    model.to = to
    return moves


def test_train_lm_trains_on_course_device(monkeypatch):
    ids = torch.tensor([0, 1, 2, 3, 4, 5] * 20)
    kwargs = dict(steps=6, batch_size=4, lr=1e-2, warmup=1, eval_every=3, desc=None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    model = GPT(GPTConfig(vocab_size=6, block_size=8, n_layer=1, n_head=2, n_embd=16))
    with pytest.raises(ValueError, match="COURSE_DEVICE=cuda asks for an NVIDIA GPU"):
        LM.train_lm(model, ids, **kwargs)
    monkeypatch.delenv("COURSE_DEVICE")
    runs = []
    for device in (None, "cpu"):
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=6, block_size=8, n_layer=1, n_head=2, n_embd=16))
        moves = _spy_on_moves(model)
        runs.append((LM.train_lm(model, ids, ids, device=device, **kwargs), model.state_dict()))
        assert moves == [torch.device("cpu")] * 2  # there for the training, then back home
    assert runs[0][0] == runs[1][0]  # None means the CPU: the same numbers
    for name, value in runs[0][1].items():
        assert torch.equal(value, runs[1][1][name])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")
def test_train_lm_on_a_gpu_returns_the_model_home():
    torch.manual_seed(0)
    ids = torch.tensor([0, 1, 2, 3, 4, 5] * 60)
    model = GPT(GPTConfig(vocab_size=6, block_size=8, n_layer=1, n_head=2, n_embd=16))
    history = LM.train_lm(
        model, ids, steps=60, batch_size=8, lr=1e-2, warmup=5, desc=None, device="cuda"
    )
    assert history["train"][-1] < 0.2
    assert next(model.parameters()).device.type == "cpu"
