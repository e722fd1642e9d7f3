"""Realism proxy and render cost: OpenCV's frontal-face detector on near-frontal renders.

    python benchmarks/realism.py [--frames 64] [--sizes 256x256 640x480] [--sheets docs/]
    python benchmarks/realism.py --upright [--samples 8] [--sizes 640x480]
    python benchmarks/realism.py --photo-control [--photos docs/photos]
    python benchmarks/realism.py --costs [--frames 8] [--sizes 256x256]

Renders `--frames` identities, one near-frontal frame each (|yaw| < 30 deg,
everything else as in params.yaml), through `facedepth render` end to end,
and counts the frames in which OpenCV's bundled Haar cascade
(haarcascade_frontalface_default.xml, scaleFactor 1.1, minNeighbors 5,
minSize 30 px) finds a face. A real photo of a frontal face is found ~9 times
in 10; a mannequin much less often. Also prints s/frame (start-up included)
and the CPU, and with --sheets saves a 16-frame contact sheet per size.

--upright renders upright heads only (|pitch| < 15, |roll| < 10 besides |yaw| < 30:
the range the frontal cascade was trained for). --photo-control runs the same
detector on the real photos in docs/photos turned by 0-30 degrees of roll,
the control that shows where the detector itself stops finding real faces.

--costs prices each realism feature instead: the same frames rendered in one
Blender process with the feature removed from the realised frame (hair
curves, brows/lashes/beard, garment, glasses, backdrop, HDRI light, random
walk subsurface), seconds per frame against the full frame.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fdcore.machine import cpu_name as cpu  # noqa: E402
from pipeline.predict import find_images  # noqa: E402

HAAR = dict(scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))


def haar_cascade() -> cv2.CascadeClassifier:
    """OpenCV's frontal-face Haar cascade, the detector both realism and localisation compare against."""
    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")


def photo_control(photos: Path, rolls=(0, 5, 10, 15, 20, 25, 30)) -> None:
    """The detector on real photos turned in the image plane: where it stops finding a face that is there."""
    cascade = haar_cascade()
    print("| photo | " + " | ".join(f"roll {r}" for r in rolls) + " |")
    print("|---|" + "---|" * len(rolls))
    for path in find_images(photos):
        grey = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
        h, w = grey.shape
        hits = []
        for roll in rolls:
            turned = cv2.warpAffine(
                grey, cv2.getRotationMatrix2D((w / 2, h / 2), roll, 1.0), (w, h), borderMode=cv2.BORDER_REPLICATE
            )
            hits.append("found" if len(cascade.detectMultiScale(turned, **HAAR)) else "missed")
        print(f"| {path.name} | " + " | ".join(hits) + " |")


def detect(render_root: Path) -> tuple[int, int, int, int]:
    """Frames with a face found: (found, frames, found in the upright subset, upright frames).

    Upright: |pitch| < 15 and |roll| < 10 degrees besides |yaw| < 30, the range the frontal cascade was
    trained for; the rest of the near-frontal frames are tilted or nodding heads it misses on photos too.
    """
    cascade = haar_cascade()
    found = frames = up_found = upright = 0
    for meta in sorted(Path(render_root).glob("shard_*/f*.json")):
        pose = json.loads(meta.read_text())["head_pose"]
        grey = cv2.cvtColor(cv2.imread(str(meta)[:-5] + ".rgb.png"), cv2.COLOR_BGR2GRAY)
        hit = len(cascade.detectMultiScale(grey, **HAAR)) > 0
        is_up = abs(pose["pitch"]) < 15 and abs(pose["roll"]) < 10
        found, frames = found + hit, frames + 1
        up_found, upright = up_found + (hit and is_up), upright + is_up
    return found, frames, up_found, upright


def costs(params_path: str, frames: int, size: str) -> None:
    import dataclasses

    import bpy

    from generation import config
    from generation.blender.scene import BlenderScene, _quiet
    from generation.realise import WorldLook, realise
    from generation.sampling import sample_frame

    w, h = map(int, size.split("x"))
    p = config.load(params_path)
    p = dataclasses.replace(
        p,
        settings=dataclasses.replace(p.settings, resolution=(w, h)),
        pose=dataclasses.replace(p.pose, yaw=(-30.0, 30.0)),
    )
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


def compare(before: Path, after: Path, out: Path, rows: int = 2) -> None:
    """The top `rows` of two contact sheets of the same frame descriptions, before above after, half size."""
    from PIL import Image, ImageDraw

    sheets = [Image.open(p).convert("RGB") for p in (before, after)]
    w, h = sheets[0].size
    tile_h = h // 4
    parts = [s.crop((0, 0, w, tile_h * rows)).resize((w // 2, tile_h * rows // 2)) for s in sheets]
    canvas = Image.new("RGB", (w // 2, sum(p.size[1] for p in parts)))
    for k, (part, label) in enumerate(zip(parts, ("before", "after"))):
        canvas.paste(part, (0, k * part.size[1]))
        ImageDraw.Draw(canvas).text((4, k * part.size[1] + 14), label, fill=(255, 255, 0))
    canvas.save(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--sizes", nargs="+", default=["256x256", "640x480"])
    ap.add_argument("--sheets", type=Path, help="save realism_<size>.png contact sheets in this folder")
    ap.add_argument("--keep", type=Path, help="render into this folder (kept) instead of a temporary one")
    ap.add_argument("--costs", action="store_true", help="price each realism feature instead")
    ap.add_argument("--upright", action="store_true", help="render upright heads only (|pitch| < 15, |roll| < 10)")
    ap.add_argument("--samples", type=int, help="path-tracing samples (default: params.yaml's)")
    ap.add_argument("--photo-control", action="store_true", help="the detector on real photos turned by 0-30 deg")
    ap.add_argument("--photos", type=Path, default=Path("docs/photos"))
    ap.add_argument("--detect-only", type=Path, help="only score the renders under this folder (e.g. older ones)")
    ap.add_argument(
        "--compare",
        nargs=3,
        type=Path,
        metavar=("BEFORE", "AFTER", "OUT"),
        help="stack the top of two contact sheets of the same frames",
    )
    args = ap.parse_args()
    print(f"CPU: {cpu()}")
    if args.costs:
        for size in args.sizes:
            costs(args.params, args.frames, size)
        return
    base = yaml.safe_load(Path(args.params).read_text())
    if args.photo_control:
        photo_control(args.photos)
        return
    if args.compare:
        compare(*args.compare)
        return
    if args.detect_only:
        found, n, up_found, up = detect(args.detect_only)
        print(
            f"{args.detect_only}: {found}/{n} = {found / n:.0%}; upright {up_found}/{up} = {up_found / max(up, 1):.0%}"
        )
        return
    print(
        "| size | samples | denoiser | frames | faces found | rate | upright frames: found | rate "
        "| s/frame (end to end) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        w, h = map(int, size.split("x"))
        params = yaml.safe_load(yaml.safe_dump(base))
        r = params["render"]
        r.update(identities=args.frames, frames_per_identity=1, shard_size=args.frames)
        r["settings"]["resolution"] = [w, h]
        r["pose"]["yaw"] = [-30, 30]
        if args.upright:  # head pitch and roll, plus the camera's own roll, inside the cascade's range
            r["pose"].update(pitch=[-12, 12], roll=[-5, 5])
            r["camera"]["roll_deg"] = [-4, 4]
        if args.samples:
            r["settings"]["samples"] = args.samples
        with tempfile.TemporaryDirectory() as tmp:
            work = args.keep / size if args.keep else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            (work / "params.yaml").write_text(yaml.safe_dump(params))
            t0 = time.perf_counter()
            subprocess.run(
                ["facedepth", "render", "--params", str(work / "params.yaml"), "--out", str(work / "renders")],
                check=True,
            )
            per_frame = (time.perf_counter() - t0) / args.frames
            found, n, up_found, up = detect(work / "renders")
            s = r["settings"]
            print(
                f"| {size} | {s['samples']} | {s['denoiser']} | {n} | {found} | {found / n:.0%} | {up_found}/{up} "
                f"| {up_found / max(up, 1):.0%} | {per_frame:.2f} |",
                flush=True,
            )
            if args.sheets:
                from pipeline.preview import contact_sheet

                contact_sheet(work / "renders", args.sheets / f"realism_{size}.png")


if __name__ == "__main__":
    main()
