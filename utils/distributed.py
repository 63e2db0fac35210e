"""Training on many devices: data parallelism with ``torch.distributed``, and the arithmetic of
what a large model needs per device (chapter 09.5).

Data parallelism, run for real in several processes on the CPU (the ``gloo`` backend):

* :func:`train_steps`: the training loop every process runs (AdamW, clipping at 1), with a hook
  ``sync`` called between ``backward()`` and the optimiser step.
* :func:`all_reduce_gradients`: that hook written by hand, the average of every gradient over
  the processes (what ``DistributedDataParallel`` does, with bucketing and overlap).
* :func:`worker`: one process (one *rank*): joins the group, takes its share of every batch,
  trains with ``DistributedDataParallel`` (``mode="ddp"``) or with the hand-written all-reduce
  (``mode="all_reduce"``) and saves its weights.
* :func:`launch`: starts ``world_size`` workers with ``torch.multiprocessing`` (start method
  ``"spawn"``) on a free port of 127.0.0.1 and returns each rank's weights.

Memory arithmetic (Rajbhandari et al., 2020, ZeRO; Korthikanti et al., 2022; Huang et al., 2019,
GPipe):

* :func:`model_state_bytes`: weights, gradients and optimiser state per GPU under ZeRO stages
  0-3 (stage 3 is what PyTorch's FSDP does).
* :func:`activation_bytes`: the activations one transformer layer stores for its backward pass.
* :func:`bubble_fraction` and :func:`gpipe_schedule`: pipeline parallelism's idle time.
* :func:`tensor_parallel_mlp`: Megatron-LM's split of an MLP across devices (Shoeybi et al.,
  2019), computed in one process.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .positional import _check_positive_int

#: The ways :func:`worker` can keep the ranks' gradients equal.
MODES = ("ddp", "all_reduce")


# ----------------------------------------------------------------------------------------------
# Data parallelism
# ----------------------------------------------------------------------------------------------


def train_steps(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    lr: float = 3e-3,
    sync=None,
) -> list[float]:
    """Train ``model`` one AdamW step per batch; return the losses.

    ``inputs`` and ``targets`` are int64 ``(steps, batch, seq)``: batch ``i`` is
    ``inputs[i], targets[i]``. The loop is chapter 07.1's (AdamW with betas (0.9, 0.95) and
    weight decay 0.1, gradients clipped at norm 1) at a constant learning rate. ``sync(model)``,
    if given, runs after ``backward()`` and before clipping: the place where data-parallel
    training averages the gradients of all processes.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    for name, t in (("inputs", inputs), ("targets", targets)):
        if not isinstance(t, torch.Tensor) or t.dtype != torch.int64 or t.dim() != 3:
            raise ValueError(
                f"{name} must be an int64 tensor (steps, batch, seq), got "
                f"{getattr(t, 'dtype', type(t).__name__)} {tuple(getattr(t, 'shape', ()))}"
            )
    if inputs.shape != targets.shape:
        raise ValueError(f"inputs {tuple(inputs.shape)} and targets {tuple(targets.shape)} differ")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    losses = []
    model.train()
    for x, y in zip(inputs, targets, strict=True):
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if sync is not None:
            sync(model)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    return losses


def all_reduce_gradients(model: nn.Module) -> None:
    """Replace every gradient by its mean over all processes of the group: sum them with an
    all-reduce, divide by the number of processes. Every rank ends with the same gradients."""
    world_size = dist.get_world_size()
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= world_size


def worker(rank: int, world_size: int, port: int, folder: str, mode: str = "ddp") -> None:
    """One process of a data-parallel run (``torch.multiprocessing`` passes ``rank`` first).

    Reads ``folder/job.pt`` (a dict with ``config``, the :class:`~utils.gpt.GPTConfig` fields;
    ``state``, the initial weights; ``inputs`` and ``targets`` ``(steps, batch, seq)``; ``lr``),
    trains on rows ``rank·batch/world_size`` to ``(rank + 1)·batch/world_size`` of every batch
    and writes its final weights and losses to ``folder/rank{rank}.pt``.
    """
    from .gpt import GPT, GPTConfig

    torch.set_num_threads(1)  # one core per process
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        job = torch.load(Path(folder) / "job.pt")
        model = GPT(GPTConfig(**job["config"]))
        model.load_state_dict(job["state"])
        share = job["inputs"].shape[1] // world_size  # this rank's rows of every batch
        rows = slice(rank * share, (rank + 1) * share)
        inputs, targets = job["inputs"][:, rows], job["targets"][:, rows]
        if mode == "ddp":
            ddp_model = nn.parallel.DistributedDataParallel(model)  # averages grads in backward
            losses = train_steps(ddp_model, inputs, targets, lr=job["lr"])
        else:
            for p in model.parameters():  # start from rank 0's weights, as DDP does
                dist.broadcast(p.data, src=0)
            losses = train_steps(model, inputs, targets, lr=job["lr"], sync=all_reduce_gradients)
        torch.save({"state": model.state_dict(), "losses": losses}, Path(folder) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that no program is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(folder: str | Path, world_size: int = 2, mode: str = "ddp") -> list[dict]:
    """Run :func:`worker` in ``world_size`` new processes on ``folder/job.pt`` and wait for them.

    Returns one ``{"state": state_dict, "losses": [...]}`` per rank. A failing worker raises
    ``torch.multiprocessing.ProcessRaisedException`` here, with its traceback.
    """
    import torch.multiprocessing as mp

    _check_positive_int("world_size", world_size)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    folder = Path(folder)
    if not (folder / "job.pt").is_file():
        raise FileNotFoundError(f"no job.pt in {folder}: save the job there first")
    job = torch.load(folder / "job.pt")
    if job["inputs"].shape[1] % world_size:
        raise ValueError(
            f"the batch ({job['inputs'].shape[1]} rows) must split evenly over "
            f"{world_size} processes"
        )
    for rank in range(world_size):
        (folder / f"rank{rank}.pt").unlink(missing_ok=True)
    mp.start_processes(
        worker,
        args=(world_size, free_port(), str(folder), mode),
        nprocs=world_size,
        join=True,
        start_method="spawn",
    )
    return [torch.load(folder / f"rank{rank}.pt") for rank in range(world_size)]


def max_weight_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest absolute difference between two state dicts with the same keys and shapes."""
    if a.keys() != b.keys():
        raise ValueError(f"the state dicts have different keys: {sorted(a.keys() ^ b.keys())}")
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


# ----------------------------------------------------------------------------------------------
# Memory arithmetic
# ----------------------------------------------------------------------------------------------

#: Bytes per parameter in mixed-precision Adam (Rajbhandari et al., 2020): fp16/bf16 weights and
#: gradients, and fp32 master weights, momentum and variance (K = 12).
MIXED_PRECISION_ADAM = {"weights": 2, "gradients": 2, "optimizer": 12}


def model_state_bytes(
    n_params: float,
    n_gpus: int = 1,
    zero_stage: int = 0,
    bytes_per_param: dict[str, float] | None = None,
) -> dict[str, float]:
    """Bytes of weights, gradients and optimiser state that each of ``n_gpus`` GPUs holds.

    ZeRO (Rajbhandari et al., 2020) shards across the data-parallel GPUs: stage 1 the optimiser
    state, stage 2 also the gradients, stage 3 also the weights (PyTorch's FSDP). Stage 0 is
    plain data parallelism: every GPU holds everything. With mixed-precision Adam (the default,
    :data:`MIXED_PRECISION_ADAM`) that is ``16 Ψ`` bytes for ``Ψ`` parameters on one GPU, and
    ``(2 + 2 + 12) Ψ / N`` under stage 3. Activations and temporary buffers are not counted.
    Returns ``{"weights", "gradients", "optimizer", "total"}``.
    """
    if isinstance(n_params, bool) or not isinstance(n_params, (int, float)) or n_params <= 0:
        raise ValueError(f"n_params must be a positive number, got {n_params!r}")
    _check_positive_int("n_gpus", n_gpus)
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError(f"zero_stage must be 0, 1, 2 or 3, got {zero_stage!r}")
    sizes = MIXED_PRECISION_ADAM if bytes_per_param is None else bytes_per_param
    if set(sizes) != set(MIXED_PRECISION_ADAM):
        raise ValueError(
            f"bytes_per_param needs the keys {sorted(MIXED_PRECISION_ADAM)}, got {sorted(sizes)}"
        )
    sharded = {
        "optimizer": zero_stage >= 1,
        "gradients": zero_stage >= 2,
        "weights": zero_stage >= 3,
    }
    out = {
        k: n_params * sizes[k] / (n_gpus if sharded[k] else 1)
        for k in ("weights", "gradients", "optimizer")
    }
    out["total"] = sum(out.values())
    return out


#: Activation recomputation strategies of Korthikanti et al. (2022).
RECOMPUTE = ("none", "selective", "full")


def activation_bytes(
    seq_len: int,
    batch: int,
    hidden: int,
    heads: int,
    layers: int = 1,
    *,
    tensor_parallel: int = 1,
    sequence_parallel: bool = False,
    recompute: str = "none",
) -> float:
    """Bytes of activations ``layers`` transformer layers store for the backward pass
    (Korthikanti et al., 2022, "Reducing Activation Recomputation in Large Transformer Models",
    their Table 2).

    Per layer, with ``s = seq_len``, ``b = batch`` (the micro-batch), ``h = hidden``, ``a = heads``
    and ``t = tensor_parallel``:

    * no recomputation: ``s·b·h·(34 + 5·a·s/h)``; with tensor parallelism
      ``s·b·h·(10 + 24/t + 5·a·s/(h·t))``; with sequence parallelism too ``s·b·h/t·(34 + 5·a·s/h)``;
    * ``"selective"`` (recompute only the attention scores, softmax and its dropout):
      ``s·b·h·(10 + 24/t)``, or ``s·b·h·34/t`` with sequence parallelism;
    * ``"full"`` (keep only each layer's input, recompute the rest): ``2·s·b·h``.

    Assumptions: a GPT-style layer (one attention, an MLP ``h → 4h → h``, two LayerNorms),
    16-bit activations, 1-byte dropout masks; embeddings, the output layer and the loss are not
    counted. ``34`` is 11 (attention) + 19 (MLP) + 4 (LayerNorms); ``5·a·s/h`` is the ``a``
    attention score matrices ``s × s`` (softmax output, its dropout mask and output).
    """
    for name, value in (
        ("seq_len", seq_len),
        ("batch", batch),
        ("hidden", hidden),
        ("heads", heads),
        ("layers", layers),
        ("tensor_parallel", tensor_parallel),
    ):
        _check_positive_int(name, value)
    if recompute not in RECOMPUTE:
        raise ValueError(f"recompute must be one of {RECOMPUTE}, got {recompute!r}")
    s, b, h, a, t = seq_len, batch, hidden, heads, tensor_parallel
    attention_scores = 5 * a * s / h
    if recompute == "full":
        per_layer = 2 * s * b * h
    elif sequence_parallel:
        per_layer = s * b * h / t * (34 + (attention_scores if recompute == "none" else 0))
    else:
        per_layer = s * b * h * (10 + 24 / t + (attention_scores / t if recompute == "none" else 0))
    return per_layer * layers


def bubble_fraction(stages: int, micro_batches: int) -> float:
    """The share of time a GPipe pipeline of ``stages`` devices stands idle while it runs
    ``micro_batches`` micro-batches forward and back: ``(p - 1) / (m + p - 1)``
    (Huang et al., 2019)."""
    _check_positive_int("stages", stages)
    _check_positive_int("micro_batches", micro_batches)
    return (stages - 1) / (micro_batches + stages - 1)


def gpipe_schedule(stages: int, micro_batches: int) -> torch.Tensor:
    """GPipe's schedule: an int64 ``(stages, 2·(m + p - 1))`` grid, one column per time slot,
    holding ``k + 1`` where stage ``s`` runs micro-batch ``k`` forward, ``-(k + 1)`` where it
    runs it backward, and 0 where it is idle (the bubble). Forward and backward take one slot
    each."""
    _check_positive_int("stages", stages)
    _check_positive_int("micro_batches", micro_batches)
    p, m = stages, micro_batches
    slots = m + p - 1
    grid = torch.zeros(p, 2 * slots, dtype=torch.int64)
    for s in range(p):
        for k in range(m):
            grid[s, s + k] = k + 1  # forward: stage s gets micro-batch k at time s + k
            grid[s, slots + (p - 1 - s) + k] = -(k + 1)  # backward: from the last stage down
    return grid


def tensor_parallel_mlp(mlp: nn.Module, x: torch.Tensor, parts: int = 2) -> torch.Tensor:
    """Run a GPT :class:`~utils.gpt.MLP` as Megatron-LM splits it over ``parts`` devices
    (Shoeybi et al., 2019), here one after the other in one process.

    The first layer's weight ``(4h, h)`` is split by its output rows (a *column* split of
    ``Xᵀ A`` in the paper's notation), so each part applies GELU to its own slice of the hidden
    units; the second layer's weight ``(h, 4h)`` is split by its input columns (a *row* split),
    so each part gives a partial output ``(batch, seq, h)``; their sum (an all-reduce on real
    devices) plus the bias is the MLP's output. ``x``: ``(batch, seq, h)``.
    """
    _check_positive_int("parts", parts)
    for name in ("c_fc", "c_proj", "gelu"):
        if not hasattr(mlp, name):
            raise TypeError(
                f"mlp must be a utils.gpt.MLP (c_fc, gelu, c_proj), got {type(mlp).__name__}"
            )
    hidden = mlp.c_fc.out_features
    if hidden % parts:
        raise ValueError(f"the MLP's {hidden} hidden units do not split into {parts} parts")
    w1s = mlp.c_fc.weight.chunk(parts, dim=0)  # (4h/parts, h) each
    b1s = mlp.c_fc.bias.chunk(parts) if mlp.c_fc.bias is not None else [None] * parts
    w2s = mlp.c_proj.weight.chunk(parts, dim=1)  # (h, 4h/parts) each
    partial = [
        F.linear(mlp.gelu(F.linear(x, w1, b1)), w2)
        for w1, b1, w2 in zip(w1s, b1s, w2s, strict=True)
    ]
    out = torch.stack(partial).sum(0)  # the all-reduce
    return out if mlp.c_proj.bias is None else out + mlp.c_proj.bias
