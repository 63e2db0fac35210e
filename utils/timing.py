"""Measuring small pieces of code honestly.

* :func:`median_time`: warm up first, repeat, report the median.
* :func:`kernels`: which PyTorch operators a call runs.
* :func:`allocated_bytes`: how much new tensor memory a call creates.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def median_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Seconds one call of ``fn()`` takes: the median of ``repeat`` calls after ``warmup`` calls.

    The median ignores the odd slow call (another program waking up); the warm-up call pays
    one-off costs (memory allocation, kernel selection) that a steady state does not.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if not isinstance(repeat, int) or repeat < 1 or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"need repeat >= 1 and warmup >= 0, got repeat={repeat}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def kernels(fn: Callable[[], object]) -> list[str]:
    """The PyTorch operators (ATen kernels) that one call of ``fn()`` runs, in order, e.g.
    ``['aten._scaled_dot_product_flash_attention_for_cpu.default']``.

    It watches PyTorch's dispatcher (a ``TorchDispatchMode``), so it sees what a fused function
    really does, without the profiler's log lines.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    names: list[str] = []

    class _Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            names.append(str(func))
            return func(*args, **(kwargs or {}))

    with _Record():
        fn()
    return names


def allocated_bytes(fn: Callable[[], object]) -> int:
    """Bytes of the new tensors that one call of ``fn()`` creates, summed over the call (not the
    peak). Views (reshapes, transposes) share memory and are not counted.

    For example, naive attention over ``n`` tokens creates several ``n × n`` matrices; a fused
    kernel creates little more than its output.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    total = 0

    def storages(tree: object) -> list[tuple[int, int]]:
        return [
            (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
            for t in tree_leaves(tree)
            if isinstance(t, torch.Tensor)
        ]

    class _Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            nonlocal total
            inputs = {ptr for ptr, _ in storages((args, kwargs))}
            out = func(*args, **(kwargs or {}))
            new = {ptr: nbytes for ptr, nbytes in storages(out) if ptr not in inputs}
            total += sum(new.values())  # an output that shares an input's memory is a view
            return out

    with _Count():
        fn()
    return total
