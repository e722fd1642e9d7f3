"""Live demo speed: `facedepth demo`'s loop on a 640x480 video of people pasted into backgrounds.

    python benchmarks/demo_fps.py [--frames 90] [--runtime onnx torch]

The video is written first (test-split renders in the bundled HDRIs, facedepth.scenes), then the demo
runs on it with the shipped models, writing its RGB | depth view to a file as it would show it; FPS
counts everything per frame: locate, crop, predict, paste, colourise, draw and encode.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from facedepth.predict import Predictor
from facedepth.scenes import compose
from facedepth.splits import load_split
from fdcore.machine import cpu_name
from pipeline.backgrounds import hdri_backgrounds
from pipeline.demo import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--prepared", type=Path, default=Path("data/prepared"))
    ap.add_argument("--runtime", nargs="+", default=["onnx", "torch"])
    args = ap.parse_args()
    print(f"CPU: {cpu_name()}; torch threads {torch.get_num_threads()}")
    split = load_split(args.prepared, "test", mmap=False)
    rng, backgrounds = np.random.default_rng(0), hdri_backgrounds()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "in.avi"
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15, (640, 480))
        for _ in range(args.frames):
            scene = compose(rng, split["rgb"], split["mask"], (480, 640), backgrounds, head_px=(60, 300), people=1)
            writer.write(cv2.cvtColor(scene.rgb, cv2.COLOR_RGB2BGR))
        writer.release()
        for runtime in args.runtime:
            stats = run(Predictor(runtime=runtime), video, 0, Path(tmp) / f"{runtime}.avi", None)
            print(f"runtime {runtime}: {stats['frames']} frames at 640x480, {stats['fps']:.1f} FPS")


if __name__ == "__main__":
    main()
