"""A 2-process ``gloo`` group on 127.0.0.1 for the distributed tests.

``run(job, ports=..., timeout=...)`` spawns ``WORLD`` workers with ``torch.multiprocessing``,
each joining the group on a free port of ``ports`` and calling ``job(rank)``; a worker that
fails reports its traceback through a queue, a hung one is killed after ``timeout`` seconds
and fails the test. ``job`` must be a module-level function (spawned workers import it).
"""

from __future__ import annotations

import datetime
import os
import queue
import socket
import traceback
from collections.abc import Callable
from typing import Any

import torch
import torch.multiprocessing as mp

WORLD = 2


def free_port(ports: range) -> int:
    """The first port of ``ports`` free on 127.0.0.1."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports[0]}-{ports[-1]} on 127.0.0.1")


def _worker(rank: int, port: int, job: Callable[[int], Any], out: Any) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        dist.init_process_group("gloo", rank=rank, world_size=WORLD, timeout=datetime.timedelta(seconds=30))
        try:
            result = job(rank)
            if isinstance(result, dict):  # tensors travel by value (no shared-memory handles)
                result = {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in result.items()}
            out.put((rank, "ok", result))
        finally:
            dist.destroy_process_group()
    except BaseException:
        out.put((rank, "error", traceback.format_exc()))


def run(job: Callable[[int], Any], *, ports: range, timeout: float) -> dict[int, Any]:
    """``job(rank)``'s result on each rank (a dict's tensors as NumPy arrays)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = free_port(ports)
    procs = [ctx.Process(target=_worker, args=(r, port, job, out), daemon=True) for r in range(WORLD)]
    for p in procs:
        p.start()
    results: dict[int, Any] = {}
    try:
        for _ in range(WORLD):
            rank, status, value = out.get(timeout=timeout)
            assert status == "ok", f"rank {rank} failed:\n{value}"
            results[rank] = value
    except queue.Empty:
        raise AssertionError(f"workers did not finish within {timeout} s") from None
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()
    return results
