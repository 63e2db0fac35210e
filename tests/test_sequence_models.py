from types import SimpleNamespace

import pytest
import torch

from utils import sequence_models as S
from utils import tasks, timing


def test_first_token_recall():
    x, y = tasks.first_token_recall(5, 12, vocab_size=4, seed=1)
    assert x.shape == (5, 12) and y.shape == (5,) and x.dtype == torch.int64
    assert torch.equal(y, x[:, 0]) and x.max() < 4 and x.min() >= 0
    x2, _ = tasks.first_token_recall(5, 12, vocab_size=4, seed=1)
    assert torch.equal(x, x2)  # the same seed gives the same batch
    g = torch.Generator().manual_seed(1)
    a, _ = tasks.first_token_recall(5, 12, 4, g)
    b, _ = tasks.first_token_recall(5, 12, 4, g)
    assert torch.equal(a, x) and not torch.equal(a, b)  # a generator advances


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"length": 0}, ValueError, "length must be a positive int, got 0"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive int, got 0"),
        ({"vocab_size": 1}, ValueError, "vocab_size must be an int >= 2, got 1"),
        ({"length": 2.0}, TypeError, "length must be a positive int, got float 2.0"),
    ],
)
def test_first_token_recall_bad_sizes(kwargs, error, match):
    args = {"batch_size": 2, "length": 3, "vocab_size": 4} | kwargs
    with pytest.raises(error, match=match):
        tasks.first_token_recall(**args)
    with pytest.raises(TypeError, match=r"seed must be an int, a torch\.Generator or None"):
        tasks.first_token_recall(2, 3, 4, seed="x")


@pytest.mark.parametrize("kind", S.KINDS)
def test_models_map_tokens_to_logits(kind):
    model = S.make_model(kind, vocab_size=6, size=16)
    assert model(torch.randint(0, 6, (3, 9))).shape == (3, 6)


def test_model_errors():
    with pytest.raises(ValueError, match="kind must be one of"):
        S.make_model("gru")
    with pytest.raises(ValueError, match="forget_bias only"):
        S.RecurrentClassifier("rnn", 4, forget_bias=1.0)
    with pytest.raises(ValueError, match=r"tokens must be \(batch, seq\), got shape \(4,\)"):
        S.make_model("lstm", 4)(torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="max_len=8"):
        S.AttentionClassifier(4, max_len=8)(torch.zeros(1, 9, dtype=torch.int64))


def test_forget_bias_is_applied():
    model = S.RecurrentClassifier("lstm", 4, hidden_size=8, forget_bias=2.0)
    total = model.recurrent.bias_ih_l0 + model.recurrent.bias_hh_l0
    assert torch.all(total[8:16] == 2.0)


def test_the_attention_model_looks_at_the_first_token():
    """Changing only the first token changes the attention model's output at any length."""
    model = S.make_model("attention", vocab_size=8, size=16)
    x = torch.randint(0, 8, (1, 300))
    y = x.clone()
    y[0, 0] = (x[0, 0] + 1) % 8
    assert not torch.allclose(model(x), model(y))


@pytest.mark.parametrize("kind", S.KINDS)
def test_recall_accuracy_learns_a_short_sequence(kind):
    accuracy = S.recall_accuracy(lambda: S.make_model(kind), length=3, steps=150)
    assert accuracy > 0.9


def test_recall_accuracy_leaves_the_global_rng_alone():
    """It seeds PyTorch's generator for its own run (the result does not depend on the caller's
    state) and restores the caller's state afterwards."""
    make = lambda: S.make_model("rnn", size=8)  # noqa: E731
    results = []
    for caller_seed in (1, 2):
        torch.manual_seed(caller_seed)
        state = torch.get_rng_state()
        results.append(S.recall_accuracy(make, length=3, steps=3, test_size=50))
        assert torch.equal(torch.get_rng_state(), state)
    assert results[0] == results[1]


def test_recall_accuracy_is_repeatable_and_can_fail():
    make = lambda: S.make_model("rnn")  # noqa: E731
    first = S.recall_accuracy(make, length=30, steps=60)
    assert first == S.recall_accuracy(make, length=30, steps=60)
    assert first < 0.5  # far back, a briefly trained RNN is near chance (1/8)


def test_median_time_skips_the_warm_up_and_takes_the_median(monkeypatch):
    """A scripted clock: each call of fn takes the next duration, in seconds."""
    clock = [0.0]
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    durations = iter([50.0, 40.0, 1.0, 30.0, 2.0])  # 2 warm-up calls, then 3 timed ones

    def fn():
        clock[0] += next(durations)

    assert timing.median_time(fn, repeat=3, warmup=2) == 2.0  # not the mean (11), nor 50
    with pytest.raises(TypeError):
        timing.median_time(42)
    with pytest.raises(ValueError):
        timing.median_time(lambda: None, repeat=0)


def test_previous_token_task():
    inputs, targets = tasks.previous_token(4, 6, vocab_size=5, seed=0)
    assert inputs.shape == targets.shape == (4, 6)
    assert (targets[:, 0] == tasks.IGNORE).all()
    assert (targets[:, 1:] == inputs[:, :-1]).all()
    again, _ = tasks.previous_token(4, 6, vocab_size=5, seed=0)
    assert torch.equal(inputs, again)
    with pytest.raises(ValueError, match="length"):
        tasks.previous_token(4, 1)


def test_per_token_model_learns_previous_token_with_positions():
    from utils.attention import CausalSelfAttention
    from utils.positional import SinusoidalPositionalEncoding

    torch.manual_seed(0)
    model = S.PerTokenModel(
        16, 32, CausalSelfAttention(32, 2), SinusoidalPositionalEncoding(32, max_len=10)
    )
    losses = S.train_per_token(model, tasks.previous_token, length=10, steps=300)
    assert losses[-1] < 0.25 * losses[0]
    assert model.last_weights.shape == (64, 2, 10, 10)
    acc = S.accuracy_by_position(model, tasks.previous_token, length=10, n=200)
    assert acc.shape == (10,) and acc[0].isnan()
    assert acc[1:].mean() > 0.9
    assert not model.training


def test_per_token_model_without_positions_cannot_copy():
    from utils.attention import CausalSelfAttention

    torch.manual_seed(0)
    model = S.PerTokenModel(16, 32, CausalSelfAttention(32, 2))
    S.train_per_token(model, tasks.previous_token, length=10, steps=300)
    acc = S.accuracy_by_position(model, tasks.previous_token, length=10, n=200)
    assert acc[5:].mean() < 0.5  # it cannot tell which earlier token came last
    # ... but it did learn what a set allows: at position 1 the answer is "the other token"
    # (an untrained model would be at chance, 1/16, everywhere), and more candidates, less luck.
    assert acc[1] > 0.9 and acc[2] > acc[9]


def test_per_token_model_rejects_ids_outside_its_vocabulary():
    from utils.attention import CausalSelfAttention

    model = S.PerTokenModel(8, 16, CausalSelfAttention(16, 2))
    tokens, _ = tasks.previous_token(2, 5, vocab_size=16, seed=0)
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        model(tokens.clamp(min=8))


def test_train_per_token_device(monkeypatch):
    """``device=None`` reads COURSE_DEVICE (the CPU by default); the same losses on the CPU
    whichever way it is asked for."""
    from utils.attention import CausalSelfAttention

    def run(**kwargs):
        torch.manual_seed(0)
        model = S.PerTokenModel(16, 16, CausalSelfAttention(16, 2))
        return model, S.train_per_token(model, tasks.previous_token, length=6, steps=3, **kwargs)

    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    model, default = run()
    assert run(device="cpu")[1] == run(device=torch.device("cpu"))[1] == default
    assert next(model.parameters()).device.type == "cpu" and not model.training
    with pytest.raises(TypeError, match="device must be"):
        run(device=0)
    if not torch.cuda.is_available():  # None asks COURSE_DEVICE, which asks for a GPU here
        monkeypatch.setenv("COURSE_DEVICE", "cuda")
        with pytest.raises(ValueError, match="COURSE_DEVICE"):
            run()
