"""Realism proxy and render cost: OpenCV's frontal-face detector on near-frontal renders.

    python benchmarks/realism.py [--frames 64] [--sizes 256x256 640x480] [--sheets docs/]
    python benchmarks/realism.py --costs [--frames 8] [--sizes 256x256]

Renders `--frames` identities, one near-frontal frame each (|yaw| < 30 deg,
everything else as in params.yaml), through `facedepth render` end to end,
and counts the frames in which OpenCV's bundled Haar cascade
(haarcascade_frontalface_default.xml, scaleFactor 1.1, minNeighbors 5,
minSize 30 px) finds a face. A real photo of a frontal face is found ~9 times
in 10; a mannequin much less often. Also prints s/frame (start-up included)
and the CPU, and with --sheets saves a 16-frame contact sheet per size.

--costs prices each realism feature instead: the same frames rendered in one
Blender process with the feature removed from the realised frame (hair
curves, brows/lashes/beard, garment, glasses, backdrop, HDRI light, random
walk subsurface), seconds per frame against the full frame.
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


def costs(params_path: str, frames: int, size: str) -> None:
    import dataclasses

    import bpy

    from generation import config
    from generation.blender.scene import BlenderScene, _quiet
    from generation.realise import WorldLook, realise
    from generation.sampling import sample_frame

    w, h = map(int, size.split("x"))
    p = config.load(params_path)
    p = dataclasses.replace(p, settings=dataclasses.replace(p.settings, resolution=(w, h)),
                            pose=dataclasses.replace(p.pose, yaw=(-30.0, 30.0)))
    scene = BlenderScene(w, h, p.settings.device)
    uniform = WorldLook(hdri="", rotation_rad=0.0, strength=0.8, rgb=(0.8, 0.8, 0.85))
    variants = {
        "full frame": lambda r: r,
        "no scalp hair": lambda r: dataclasses.replace(r, hair=None),
        "no brows, lashes, beard": lambda r: dataclasses.replace(r, fur=None),
        "no garment": lambda r: dataclasses.replace(r, garment=None),
        "no glasses": lambda r: dataclasses.replace(r, glasses=None),
        "no backdrop (HDRI sphere or room)": lambda r: dataclasses.replace(r, backdrop=None),
        "uniform world instead of the HDRI": lambda r: dataclasses.replace(r, world=uniform),
    }
    skin = [scene.mats[k].node_tree.nodes["bsdf"] for k in ("face", "body")]
    print(f"| {size}, {p.settings.samples} spp | s/frame (render only) | saving |")
    print("|---|---|---|")
    full = None
    for label, change in [*variants.items(), ("Burley instead of random-walk subsurface", None)]:
        for bsdf in skin:
            bsdf.subsurface_method = "BURLEY" if change is None else "RANDOM_WALK"
        change = change or variants["full frame"]
        times = []
        for i in range(frames + 1):  # frame 0 warms the shaders up and is not counted
            frame = sample_frame(p, i)
            scene.apply(frame, change(realise(frame)))
            t = time.perf_counter()
            with _quiet():
                bpy.ops.render.render(write_still=False)
            times.append(time.perf_counter() - t)
        mean = float(np.mean(times[1:]))
        full = full or mean
        print(f"| {label} | {mean:.2f} | {1 - mean / full:.0%} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--sizes", nargs="+", default=["256x256", "640x480"])
    ap.add_argument("--sheets", type=Path, help="save realism_<size>.png contact sheets in this folder")
    ap.add_argument("--keep", type=Path, help="render into this folder (kept) instead of a temporary one")
    ap.add_argument("--costs", action="store_true", help="price each realism feature instead")
    args = ap.parse_args()
    print(f"CPU: {cpu()}")
    if args.costs:
        for size in args.sizes:
            costs(args.params, args.frames, size)
        return
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
