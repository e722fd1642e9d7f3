"""What the normal and matte passes (or the face parts) cost, and how well the matte agrees with the labels.

    python benchmarks/passes.py [--frames 4] [--size 640x480] [--params params.yaml] [--what passes|parts]

`--what parts` compares the face parts as shipped (a skin material per part, a curves object per fur part)
with one skin material for the whole face and the teeth shaded as the mouth, as before parts existed.

Each frame is path-traced twice in one process, alternating which goes first:
with the normal pass and `person` AOV (as shipped) and without them (as before
they existed), then finalised (the normal and matte EXRs are part of the
write cost). Prints seconds per frame both ways, their ratio, and the share of
pixels where the matte's 0.5 threshold equals the label map (all, and away
from hair, where strands cover parts of pixels). Compare ratios, not seconds,
across machines.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from fdcore.machine import cpu_name
from generation import config, exr, human
from generation.realise import realise
from generation.sampling import sample_frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--what", choices=("passes", "parts"), default="passes")
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    p = config.load(args.params)
    p = replace(p, settings=replace(p.settings, resolution=(w, h)))
    print(f"CPU: {cpu_name()}; {args.frames} frames at {w}x{h}, {p.settings.samples} spp")
    import bpy

    from generation.blender.scene import FUR_PARTS, SKIN_PARTS, BlenderScene, _quiet, raw_files
    from generation.shard import finalize

    scene = BlenderScene(w, h, p.settings.device)
    vl = scene.scene.view_layers[0]
    links = scene.output.id_data.links
    sockets = {name: scene.output.inputs[name] for name in ("normal", "person")}
    layers = next(n for n in scene.output.id_data.nodes if n.bl_idname == "CompositorNodeRLayers")

    def passes(on: bool) -> None:
        vl.use_pass_normal = on
        if on:
            aov = vl.aovs.add()
            aov.name, aov.type = "person", "VALUE"
            for name, socket in sockets.items():
                links.new(layers.outputs["Normal" if name == "normal" else "person"], socket)
        else:
            for socket in sockets.values():
                for link in list(socket.links):
                    links.remove(link)
            vl.aovs.remove(vl.aovs["person"])

    mesh = scene.human.data
    with_parts = np.zeros(len(mesh.polygons), np.int32)
    mesh.polygons.foreach_get("material_index", with_parts)
    slot = {m.name: i for i, m in enumerate(mesh.materials)}
    without_parts = np.where(
        np.isin(with_parts, [slot[f"skin_{k}"] for k, _ in SKIN_PARTS]), slot["skin_face"], with_parts
    )
    without_parts[with_parts == slot["teeth"]] = slot["mouth"]

    def parts(on: bool) -> None:
        mesh.polygons.foreach_set("material_index", with_parts if on else without_parts)
        mesh.update()

    def fur(on: bool) -> None:  # after apply(), which makes the frame's curves objects
        for key, _ in FUR_PARTS:
            if not on and scene.curves[key] is not None:
                scene.curves[key].data.materials[0] = scene.mats[FUR_PARTS[0][0]]

    toggle = passes if args.what == "passes" else parts
    times = {True: [], False: []}
    agree, off_hair = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        warm = sample_frame(p, 0)
        scene.render(warm, realise(warm), tmp / "warm")
        for i in range(1, args.frames + 1):
            frame = sample_frame(p, i)
            realised = realise(frame)
            for on in (True, False) if i % 2 else (False, True):
                toggle(on)
                scene.apply(frame, realised)
                if args.what == "parts":
                    fur(on)
                scene.output.directory = str(tmp / f"raw{i}{on}") + "/"
                scene.scene.frame_current = frame.index % 10000
                t = time.perf_counter()
                with _quiet():
                    bpy.ops.render.render(write_still=False)
                times[on].append(time.perf_counter() - t)
                if on:
                    raw = raw_files(frame.index, tmp / f"raw{i}{on}")
                    (tmp / f"out{i}").mkdir()
                    t = time.perf_counter()
                    files = finalize(frame, raw, tmp / f"out{i}", bpy.app.version_string, realised.eyes_world)
                    times[on][-1] += time.perf_counter() - t
                    mask = np.asarray(Image.open(files["mask"]))
                    matte = exr.read_channel(files["matte"])
                    same = (matte > 0.5) == (mask != human.BACKGROUND)
                    hair = mask == human.HAIR
                    near = (
                        hair | np.roll(hair, 1, 0) | np.roll(hair, -1, 0) | np.roll(hair, 1, 1) | np.roll(hair, -1, 1)
                    )
                    agree.append(same.mean())
                    off_hair.append(same[~near].mean())
            toggle(True)
    on, off = np.mean(times[True]), np.mean(times[False])
    what = "normal + matte" if args.what == "passes" else "face parts"
    print(f"with {what}: {on:.2f} s/frame; without: {off:.2f} s/frame; ratio {on / off:.3f}")
    print(
        f"matte > 0.5 equals the labels on {np.mean(agree):.2%} of pixels (min {np.min(agree):.2%}); "
        f"away from hair {np.mean(off_hair):.2%}"
    )


if __name__ == "__main__":
    main()
