"""Tests of utils.distributed: two-process data parallelism equals one process; the memory
arithmetic against numbers worked by hand (and the ZeRO paper's); tensor and pipeline
parallelism."""

import copy
import math

import pytest
import torch

from utils import distributed as D
from utils import gpt as G

GB = 1e9


def _job(tmp_path, steps=3, batch=4, seq=8):
    config = G.GPTConfig(vocab_size=20, block_size=seq, n_layer=1, n_head=2, n_embd=16)
    torch.manual_seed(0)
    model = G.GPT(config)
    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, 20, (steps, batch, seq + 1), generator=g)
    inputs, targets = data[..., :-1].contiguous(), data[..., 1:].contiguous()
    job = dict(
        config=vars(config), state=model.state_dict(), inputs=inputs, targets=targets, lr=1e-3
    )
    torch.save(job, tmp_path / "job.pt")
    return model, inputs, targets


@pytest.mark.allow_hosts(["127.0.0.1"])
@pytest.mark.parametrize("mode", D.MODES)
def test_two_processes_equal_one(tmp_path, mode):
    model, inputs, targets = _job(tmp_path)
    one = copy.deepcopy(model)
    one_losses = D.train_steps(one, inputs, targets, lr=1e-3)
    ranks = D.launch(tmp_path, world_size=2, mode=mode)
    assert len(ranks) == 2
    assert D.max_weight_difference(ranks[0]["state"], ranks[1]["state"]) == 0
    # rounding noise (a different summation order), which AdamW magnifies where a gradient is
    # zero in exact arithmetic (the attention key bias): small, but its size depends on the CPU
    assert D.max_weight_difference(ranks[0]["state"], one.state_dict()) < 1e-4
    mean_losses = [(a + b) / 2 for a, b in zip(ranks[0]["losses"], ranks[1]["losses"], strict=True)]
    assert mean_losses == pytest.approx(one_losses, abs=1e-5)
    # and training did move the weights, far more than the difference
    assert D.max_weight_difference(one.state_dict(), model.state_dict()) > 1e-3


def test_train_steps_sync_hook_and_half_batch_differs():
    torch.manual_seed(0)
    config = G.GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16)
    model = G.GPT(config)
    data = torch.randint(0, 20, (2, 4, 9), generator=torch.Generator().manual_seed(1))
    x, y = data[..., :-1], data[..., 1:]
    calls = []
    a = copy.deepcopy(model)
    losses = D.train_steps(a, x, y, sync=lambda m: calls.append(m))
    assert len(losses) == 2 and len(calls) == 2 and calls[0] is a
    b = copy.deepcopy(model)
    D.train_steps(b, x[:, :2], y[:, :2])
    assert D.max_weight_difference(a.state_dict(), b.state_dict()) > 1e-4


def test_train_steps_bad_input():
    model = G.GPT(G.GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16))
    x = torch.zeros(2, 4, 8, dtype=torch.int64)
    with pytest.raises(TypeError, match=r"nn\.Module"):
        D.train_steps("model", x, x)
    with pytest.raises(ValueError, match=r"int64 tensor \(steps, batch, seq\)"):
        D.train_steps(model, x[0], x[0])
    with pytest.raises(ValueError, match="differ"):
        D.train_steps(model, x, x[:, :2])


def test_launch_bad_input(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        D.launch(tmp_path, mode="fsdp")
    with pytest.raises(FileNotFoundError, match=r"job\.pt"):
        D.launch(tmp_path)
    _job(tmp_path, batch=3)
    with pytest.raises(ValueError, match="split evenly"):
        D.launch(tmp_path, world_size=2)
    with pytest.raises(ValueError, match="world_size"):
        D.launch(tmp_path, world_size=0)


def test_max_weight_difference():
    a = {"w": torch.zeros(2, 2), "b": torch.zeros(2)}
    b = {"w": torch.tensor([[0.0, 0.5], [0.0, 0.0]]), "b": torch.tensor([0.0, -0.75])}
    assert D.max_weight_difference(a, b) == 0.75
    with pytest.raises(ValueError, match="different keys"):
        D.max_weight_difference(a, {"w": a["w"]})


def test_model_state_bytes_zero_paper():
    # Rajbhandari et al. (2020), Figure 1: 7.5B parameters, 64 GPUs, K = 12
    totals = [D.model_state_bytes(7.5e9, 64, stage)["total"] / GB for stage in range(4)]
    assert [round(t, 1) for t in totals] == [120.0, 31.4, 16.6, 1.9]


def test_model_state_bytes_by_hand():
    # 7B on 8 GPUs: 14 + 14 + 84 = 112 GB; stage 1: 14 + 14 + 10.5; stage 2: 14 + 1.75 + 10.5;
    # stage 3: 1.75 + 1.75 + 10.5
    expected = {0: (14, 14, 84), 1: (14, 14, 10.5), 2: (14, 1.75, 10.5), 3: (1.75, 1.75, 10.5)}
    for stage, (w, g, o) in expected.items():
        r = D.model_state_bytes(7e9, 8, stage)
        assert (r["weights"] / GB, r["gradients"] / GB, r["optimizer"] / GB) == pytest.approx(
            (w, g, o)
        )
        assert r["total"] / GB == pytest.approx(w + g + o)
    # one GPU: every stage is the same; fp32 Adam without mixed precision is 4 + 4 + 8 = 16 too
    assert {D.model_state_bytes(1e9, 1, s)["total"] for s in range(4)} == {16e9}
    fp32 = D.model_state_bytes(1e9, bytes_per_param={"weights": 4, "gradients": 4, "optimizer": 8})
    assert fp32["total"] == 16e9


def test_model_state_bytes_bad_input():
    with pytest.raises(ValueError, match="n_params"):
        D.model_state_bytes(0)
    with pytest.raises(ValueError, match="n_params"):
        D.model_state_bytes("7e9")
    with pytest.raises(ValueError, match="zero_stage"):
        D.model_state_bytes(7e9, 8, 4)
    with pytest.raises(ValueError, match="n_gpus"):
        D.model_state_bytes(7e9, 0)
    with pytest.raises(ValueError, match="keys"):
        D.model_state_bytes(7e9, bytes_per_param={"weights": 2})


def test_activation_bytes_by_hand():
    # s=2048, b=1, h=4096, a=32: sbh = 8,388,608; 34 + 5·32·2048/4096 = 114
    sbh = 2048 * 4096
    assert D.activation_bytes(2048, 1, 4096, 32) == sbh * 114
    assert D.activation_bytes(2048, 1, 4096, 32, layers=32) == 32 * sbh * 114
    assert D.activation_bytes(2048, 1, 4096, 32, recompute="selective") == sbh * 34
    assert D.activation_bytes(2048, 1, 4096, 32, recompute="full") == sbh * 2
    # tensor parallel t=8: sbh(10 + 24/8 + 80/8) = 23 sbh; with sequence parallelism 114/8 sbh
    assert D.activation_bytes(2048, 1, 4096, 32, tensor_parallel=8) == sbh * 23
    both = D.activation_bytes(2048, 1, 4096, 32, tensor_parallel=8, sequence_parallel=True)
    assert both == pytest.approx(sbh * 114 / 8)
    sel = D.activation_bytes(
        2048, 1, 4096, 32, tensor_parallel=8, sequence_parallel=True, recompute="selective"
    )
    assert sel == pytest.approx(sbh * 34 / 8)
    # linear in the batch, quadratic term in the sequence
    assert D.activation_bytes(2048, 4, 4096, 32) == 4 * D.activation_bytes(2048, 1, 4096, 32)


def test_activation_bytes_bad_input():
    with pytest.raises(ValueError, match="seq_len"):
        D.activation_bytes(0, 1, 4096, 32)
    with pytest.raises(ValueError, match="recompute"):
        D.activation_bytes(2048, 1, 4096, 32, recompute="some")


def test_bubble_and_schedule():
    assert D.bubble_fraction(1, 5) == 0
    assert D.bubble_fraction(4, 6) == pytest.approx(3 / 9)
    assert D.bubble_fraction(8, 64) == pytest.approx(7 / 71)
    for p, m in ((1, 1), (2, 3), (4, 6), (5, 2)):
        grid = D.gpipe_schedule(p, m)
        assert grid.shape == (p, 2 * (m + p - 1))
        assert math.isclose((grid == 0).sum().item() / grid.numel(), D.bubble_fraction(p, m))
        for s in range(p):  # every stage runs each micro-batch once forward, once backward
            assert sorted(grid[s][grid[s] != 0].tolist()) == sorted(
                list(range(1, m + 1)) + [-k for k in range(1, m + 1)]
            )
        # a stage runs a micro-batch forward only after the stage before it did
        for s in range(1, p):
            for k in range(1, m + 1):
                assert (grid[s] == k).nonzero().item() > (grid[s - 1] == k).nonzero().item()
                assert (grid[s] == -k).nonzero().item() < (grid[s - 1] == -k).nonzero().item()
    with pytest.raises(ValueError, match="micro_batches"):
        D.bubble_fraction(4, 0)
    with pytest.raises(ValueError, match="stages"):
        D.gpipe_schedule(0, 4)


def test_tensor_parallel_mlp_equals_mlp():
    torch.manual_seed(0)
    config = G.GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16)
    mlp = G.MLP(config)
    torch.nn.init.normal_(mlp.c_fc.bias)
    torch.nn.init.normal_(mlp.c_proj.bias)
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        for parts in (1, 2, 4, 64):
            torch.testing.assert_close(D.tensor_parallel_mlp(mlp, x, parts), mlp(x))
    nobias = G.MLP(G.GPTConfig(20, 8, 1, 2, 16, bias=False))
    with torch.no_grad():
        torch.testing.assert_close(D.tensor_parallel_mlp(nobias, x, 2), nobias(x))
    with pytest.raises(ValueError, match="do not split"):
        D.tensor_parallel_mlp(mlp, x, 3)
    with pytest.raises(TypeError, match="MLP"):
        D.tensor_parallel_mlp(torch.nn.Linear(16, 16), x, 2)
