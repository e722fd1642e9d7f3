"""Realism proxy and render cost: OpenCV's frontal-face detector on near-frontal renders.

    python benchmarks/realism.py [--frames 64] [--sizes 256x256 640x480] [--sheets docs/]

Renders `--frames` identities, one near-frontal frame each (|yaw| < 30 deg,
everything else as in params.yaml), through `facedepth render` end to end,
and counts the frames in which OpenCV's bundled Haar cascade
(haarcascade_frontalface_default.xml, scaleFactor 1.1, minNeighbors 5,
minSize 30 px) finds a face. A real photo of a frontal face is found ~9 times
in 10; a mannequin much less often. Also prints s/frame (start-up included)
and the CPU, and with --sheets saves a 16-frame contact sheet per size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from render import cpu  # noqa: E402

HAAR = dict(scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))


def detect(rgb_paths: list[Path]) -> int:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = 0
    for path in rgb_paths:
        grey = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
        found += len(cascade.detectMultiScale(grey, **HAAR)) > 0
    return found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--sizes", nargs="+", default=["256x256", "640x480"])
    ap.add_argument("--sheets", type=Path, help="save realism_<size>.png contact sheets in this folder")
    ap.add_argument("--keep", type=Path, help="render into this folder (kept) instead of a temporary one")
    args = ap.parse_args()
    print(f"CPU: {cpu()}")
    base = yaml.safe_load(Path(args.params).read_text())
    print("| size | samples | denoiser | frames | faces found | rate | s/frame (end to end) |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        w, h = map(int, size.split("x"))
        params = yaml.safe_load(yaml.safe_dump(base))
        r = params["render"]
        r.update(identities=args.frames, frames_per_identity=1, shard_size=args.frames)
        r["settings"]["resolution"] = [w, h]
        r["pose"]["yaw"] = [-30, 30]
        with tempfile.TemporaryDirectory() as tmp:
            work = args.keep / size if args.keep else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            (work / "params.yaml").write_text(yaml.safe_dump(params))
            t0 = time.perf_counter()
            subprocess.run(["facedepth", "render", "--params", str(work / "params.yaml"), "--out", str(work / "renders")],
                           check=True)
            per_frame = (time.perf_counter() - t0) / args.frames
            rgbs = sorted((work / "renders").glob("*/*.rgb.png"))
            found = detect(rgbs)
            s = r["settings"]
            print(f"| {size} | {s['samples']} | {s['denoiser']} | {len(rgbs)} | {found} | {found / len(rgbs):.0%} "
                  f"| {per_frame:.2f} |", flush=True)
            if args.sheets:
                from pipeline.preview import contact_sheet

                contact_sheet(work / "renders", args.sheets / f"realism_{size}.png")


if __name__ == "__main__":
    main()
