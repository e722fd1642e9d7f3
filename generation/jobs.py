"""Run render shards: in this process, in N local worker processes, or on Ray.

Shards are independent, so the scale-out path is just a different map over
the same `render_shard` function. Workers report every finished frame so the
caller can show one progress bar for the whole job.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import queue
import signal
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

from fdcore.schema import RenderParams
from generation.layout import shard_dir
from generation.shard import claim_root, is_complete, render_shard


def pending_frames(params: RenderParams, root: Path, shards: list[range]) -> int:
    return sum(not is_complete(shard_dir(root, s), i) for s in shards for i in s)


def default_workers() -> int:
    """One Blender process per 4 cores: on 2 cores, 2 single-thread workers were 15% slower than 1 with 2 threads."""
    return max(1, (os.cpu_count() or 1) // 4)


_events = None  # the worker's end of the progress queue, set once per worker process


def _die_with_parent(events) -> None:
    """Worker initializer: take the event queue, and ask Linux to kill this worker when its parent dies.

    Without it a killed `facedepth render` leaves its Blender workers rendering on, unseen.
    """
    global _events
    _events = events
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def _worker(params: RenderParams, frames: range, root: Path) -> str:
    return str(render_shard(params, frames, root, on_frame=_events.put))


def run(
    params: RenderParams,
    root: Path,
    shards: list[range],
    workers: int,
    on_frame: Callable[[int], None],
    ray_address: str | None = None,
) -> list[Path]:
    """Render `shards` under `root`; `on_frame` is called once per rendered frame.

    Raises StaleRenders before any work when `root` holds frames of other params.
    """
    root = Path(root)
    claim_root(params, root)
    if ray_address is not None:
        return _run_ray(params, root, shards, on_frame, ray_address)
    workers = max(1, min(workers or default_workers(), len(shards)))
    if workers == 1:
        return [render_shard(params, s, root, on_frame) for s in shards]
    threads = params.settings.threads or max(1, (os.cpu_count() or 1) // workers)
    params = replace(params, settings=replace(params.settings, threads=threads))
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: bpy must not be forked
    events = ctx.Queue()
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_die_with_parent, initargs=(events,)) as pool:
        futures = [pool.submit(_worker, params, s, root) for s in shards]
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
        raise RuntimeError(
            "Ray is not installed; from this clone: `pip install -e '.[ray]'` (or `pip install ray==2.60.0`), "
            "or drop --ray"
        ) from None
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
