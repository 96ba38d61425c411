"""The machine's own limit, measured in the same run as a benchmark: float32 GEMM FLOP/s.

Benchmarks report what they achieve as a share of this roofline beside their peer ratio:
a simulator or training step whose useful arithmetic is ``flops`` per call and that takes
``seconds`` achieves ``flops / seconds``; divided by :func:`gemm_flops_per_s` it says how
far the code is from what the machine's matrix unit allows. One multiply-add counts as 2
FLOP. Import it from a script in ``bench/`` (``from roofline import ...``).
"""

from __future__ import annotations

import time

import numpy as np
import torch

GEMM_SIZE = 1024  # square float32 matrices: large enough to reach the BLAS peak


def gemm_flops_per_s(threads: int, library: str = "torch", size: int = GEMM_SIZE,
                     repeats: int = 5, device: str = "cpu") -> float:
    """Best-of-``repeats`` float32 FLOP/s of a ``size`` x ``size`` x ``size`` matrix
    product (2 size**3 FLOP), with ``threads`` threads, through ``library`` ("torch" or
    "numpy"; numpy's BLAS follows its own thread settings, set before numpy is imported)."""
    flops = 2.0 * size**3
    if library == "numpy":
        rng = np.random.default_rng(0)
        a, b = (rng.random((size, size), dtype=np.float32) for _ in range(2))
        a @ b  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
        return flops / best
    if library != "torch":
        raise ValueError(f"library must be 'torch' or 'numpy', not {library!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        a, b = (torch.rand(size, size, generator=gen).to(device) for _ in range(2))
        best = float("inf")
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            a @ b
            if device != "cpu":
                torch.cuda.synchronize()
            if i:  # the first product is the warm-up
                best = min(best, time.perf_counter() - t0)
        return flops / best
    finally:
        torch.set_num_threads(previous)


def share(achieved_flops_per_s: float, peak_flops_per_s: float) -> str:
    """``achieved`` as a percentage of ``peak`` for a table cell."""
    return f"{100.0 * achieved_flops_per_s / peak_flops_per_s:.1f}%"
