"""Run render shards: in this process, in N local worker processes, or on Ray.

Shards are independent, so the scale-out path is just a different map over
the same `render_shard` function. Workers report every finished frame so the
caller can show one progress bar for the whole job.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

from generation.config import RenderParams
from generation.shard import is_complete, render_shard, shard_dir


def pending_frames(params: RenderParams, root: Path, shards: list[range]) -> int:
    return sum(not is_complete(shard_dir(root, s), i) for s in shards for i in s)


def _worker(params: RenderParams, frames: range, root: Path, events) -> str:
    return str(render_shard(params, frames, root, on_frame=events.put))


def run(params: RenderParams, root: Path, shards: list[range], workers: int,
        on_frame: Callable[[int], None], ray_address: str | None = None) -> list[Path]:
    """Render `shards` under `root`; `on_frame` is called once per rendered frame."""
    root = Path(root)
    if ray_address is not None:
        return _run_ray(params, root, shards, on_frame, ray_address)
    workers = max(1, min(workers, len(shards)))
    if workers == 1:
        return [render_shard(params, s, root, on_frame) for s in shards]
    threads = params.settings.threads or max(1, (os.cpu_count() or 1) // workers)
    params = replace(params, settings=replace(params.settings, threads=threads))
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: bpy must not be forked
    with ctx.Manager() as manager, ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        events = manager.Queue()
        futures = [pool.submit(_worker, params, s, root, events) for s in shards]
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in finished:
                fut.result()  # re-raise a worker's error with its traceback
            _drain(events, on_frame)
        return [Path(f.result()) for f in futures]


def _drain(events, on_frame) -> None:
    while True:
        try:
            on_frame(events.get_nowait())
        except queue.Empty:
            return


def _run_ray(params: RenderParams, root: Path, shards: list[range], on_frame, address: str) -> list[Path]:
    try:
        import ray
    except ImportError:
        raise RuntimeError("Ray is not installed; `pip install 'facedepth[ray]'` or drop --ray") from None
    ray.init(address=address or None, ignore_reinit_error=True)
    task = ray.remote(render_shard)
    pending = {task.remote(params, s, root): s for s in shards}
    out = []
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            out.append(Path(ray.get(ref)))
            for i in pending.pop(ref):
                on_frame(i)
    return out

