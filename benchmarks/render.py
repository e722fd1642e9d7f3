"""Render speed: start-up overhead and s/frame at 256x256 and 640x480 (default quality).

    python benchmarks/render.py [--frames 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from generation import config
from generation.description import sample_frame


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    p = config.load(args.params)
    t0 = time.perf_counter()
    import bpy  # noqa: F401

    from generation import human
    from generation.blender.scene import BlenderScene

    human.topology()
    sample_frame(p, 0)
    scene = BlenderScene(256, 256)
    startup = time.perf_counter() - t0
    print(f"start-up (import bpy, load assets, build scene): {startup:.2f} s")
    for w, h in ((256, 256), (640, 480)):
        q = replace(p, settings=replace(p.settings, resolution=(w, h)))
        scene.scene.render.resolution_x, scene.scene.render.resolution_y = w, h
        with tempfile.TemporaryDirectory() as tmp:
            scene.render(sample_frame(q, 0), Path(tmp))  # warm-up: shader compilation, first BVH
            t = time.perf_counter()
            for i in range(1, args.frames + 1):
                scene.render(sample_frame(q, i), Path(tmp))
            dt = (time.perf_counter() - t) / args.frames
        print(f"{w}x{h}: {dt:.2f} s/frame ({p.settings.samples} spp, denoiser {p.settings.denoiser}, "
              f"{args.frames} frames, varied identities/hair)")


if __name__ == "__main__":
    main()
