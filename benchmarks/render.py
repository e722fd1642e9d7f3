"""Render speed by phase: start-up, then per frame describe / geometry+hair+materials / path tracing /
denoising / checking and writing, at the default and paper resolutions.

    python benchmarks/render.py [--frames 4] [--sizes 128x128 256x256 640x480]

Denoising time is the difference between one render with OIDN and the same
frame without it. The CPU model and its vector extensions are printed
first: Cycles' speed differs ~3.6x between 2-core machines with and without
AVX2/AVX-512, so compare figures only within one run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from fdcore.machine import cpu_name as cpu
from generation import config
from generation.realise import realise
from generation.sampling import sample_frame


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--sizes", nargs="+", default=["128x128", "256x256", "640x480"])
    args = ap.parse_args()
    print(f"CPU: {cpu()}")
    p = config.load(args.params)
    t0 = time.perf_counter()
    import bpy

    from generation import human
    from generation.blender.scene import BlenderScene, _quiet
    from generation.shard import finalize

    human.topology()
    sample_frame(p, 0)
    scene = BlenderScene(*p.settings.resolution, p.settings.device)
    print(
        f"start-up (import bpy, load assets, build scene): {time.perf_counter() - t0:.2f} s; "
        f"Cycles device: {scene.device} (render.settings.device: {p.settings.device})"
    )
    print("| size | describe | geometry+hair+materials | path tracing | denoising | check+write | total s/frame |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        w, h = map(int, size.split("x"))
        q = replace(p, settings=replace(p.settings, resolution=(w, h)))
        scene.scene.render.resolution_x, scene.scene.render.resolution_y = w, h
        phases = []
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            warm = sample_frame(q, 0)
            scene.render(warm, realise(warm), tmp / "warm")  # shader compilation, first BVH
            for i in range(1, args.frames + 1):
                t = [time.perf_counter()]
                frame = sample_frame(q, i)
                t.append(time.perf_counter())
                realised = realise(frame)
                scene.apply(frame, realised)
                t.append(time.perf_counter())
                scene.scene.cycles.use_denoising = False
                with _quiet():
                    bpy.ops.render.render(write_still=False)
                t.append(time.perf_counter())
                files = scene.render(frame, realised, tmp / f"f{i}")  # the real thing: with the denoiser
                t.append(time.perf_counter())
                finalize(frame, files, tmp, bpy.app.version_string, realised.eyes_world)
                t.append(time.perf_counter())
                d = np.diff(t)
                # phase 4 re-applies the scene and path-traces again: subtract both to leave the denoiser
                phases.append([d[0], d[1], d[2], max(d[3] - d[1] - d[2], 0.0), d[4]])
        m = np.mean(phases, axis=0)
        print(
            f"| {w}x{h} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.3f} | {m[3]:.3f} | {m[4]:.3f} | {m.sum():.2f} |", flush=True
        )


if __name__ == "__main__":
    main()
