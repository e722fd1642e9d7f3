"""Render one shard (a frame index range) in one Blender process, resumably.

Each frame is rendered into `<shard>/.tmp/`, checked, and moved into place
with os.replace; its JSON is moved last, so a frame is complete exactly when
its JSON exists. A killed job leaves no partial file where readers look, and
a rerun renders only the frames whose JSON is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from fdcore.files import atomic_write_text
from fdcore.labels import PARTS
from fdcore.machine import release_free_memory
from fdcore.schema import RenderParams
from generation import exr, geometry, human, landmarks
from generation.description import Frame
from generation.layout import SHARD_GLOB, frame_name, frame_paths, shard_dir
from generation.parts import split_index
from generation.realise import realise
from generation.sampling import sample_frame

FORMAT_VERSION = 3  # 2: normal.exr and matte.exr beside depth; 3: parts.png (face parts)


ROOT_FILE = "render.json"  # which params the frames under a render root were made with


class StaleRenders(RuntimeError):
    """A render root that holds frames of other params; mixing them in would corrupt the dataset."""


def fingerprint(params: RenderParams) -> str:
    """Hash of every param that shapes the frames or their layout (not workers, threads or device)."""
    d = params.to_dict()
    d.pop("workers")
    d["settings"].pop("threads")
    d["settings"].pop("device")
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def claim_root(params: RenderParams, root: Path) -> None:
    """Make sure `root` holds only frames of `params` (writing its render.json), or raise StaleRenders.

    A rerun with the same params resumes; with other params (seed, resolution,
    shard size...) it stops before touching anything, since keeping old frames
    would silently mix two datasets.
    """
    root = Path(root)
    path = root / ROOT_FILE
    want = fingerprint(params)
    fix = f"render into a new folder, or delete {root} to start over"
    if path.is_file():
        try:
            have = json.loads(path.read_text()).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            have = None
        if have != want:
            raise StaleRenders(
                f"{root} holds frames rendered with other params (fingerprint {have}, these params give {want}); {fix}"
            )
        return
    if any(root.glob(SHARD_GLOB)):
        raise StaleRenders(f"{root} holds shards but no {ROOT_FILE}, so their params are unknown; {fix}")
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        path, json.dumps({"fingerprint": want, "frames": params.frames, "shard_size": params.shard_size}, indent=1)
    )


def is_complete(folder: Path, index: int) -> bool:
    return frame_paths(folder, frame_name(index))["meta"].is_file()


def metadata(frame: Frame, blender_version: str, eyes_world: np.ndarray) -> dict:
    """The frame description plus everything a consumer needs without re-deriving it."""
    cam = frame.camera
    cam_from_world = cam.cam_from_world
    Q = geometry.head_rotation_cv(*(frame.head_pose_deg[k] for k in ("yaw", "pitch", "roll")))
    return {
        "format_version": FORMAT_VERSION,
        "name": frame.name,
        "identity_id": frame.identity.id,
        "K": cam.K.tolist(),
        "cam_from_world": cam_from_world.tolist(),
        "head_pose": {
            **frame.head_pose_deg,
            "R_cam_head": Q.tolist(),
            "eyes_cam": (cam_from_world[:3, :3] @ eyes_world + cam_from_world[:3, 3]).tolist(),
        },
        "depth": {"units": "m", "kind": "planar camera z", "no_hit": "inf"},
        "normal": {"frame": "camera, OpenCV axes (x right, y down, z forward)", "unit": True, "faces": "camera"},
        "matte": {"kind": "soft person coverage of each pixel, 0..1, from the pixel filter"},
        "labels": human.LABELS,
        "blender_version": blender_version,
        "description": frame.to_dict(),
    }


def camera_normals(world: np.ndarray, cam_from_world: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Blender's world-axes normal pass (filtered: shorter than 1 at edges) -> unit normals in the camera's
    OpenCV axes, facing the camera; NaN where the pass is empty.

    What the camera sees faces it, but Cycles' pass can point away on hair strands (the strand's shading frame)
    and at grazing smooth-shaded edges: such a normal is mirrored across the plane normal to its pixel's ray,
    which keeps its sideways part (continuous at edges) and turns it toward the camera.
    """
    h, w = world.shape[:2]
    n = world.astype(np.float64) @ np.asarray(cam_from_world, np.float64)[:3, :3].T
    ray = geometry.ray_directions(np.asarray(K, np.float64), w, h)
    ray /= np.linalg.norm(ray, axis=-1, keepdims=True)
    along = (n * ray).sum(-1, keepdims=True)
    n = np.where(along > 0, n - 2 * along * ray, n)
    length = np.linalg.norm(n, axis=-1, keepdims=True)
    return np.where(length > 1e-6, n / np.maximum(length, 1e-12), np.nan).astype(np.float32)


def landmark_record(frame: Frame, points_world: np.ndarray, depth: np.ndarray) -> dict:
    """The 68 iBUG landmarks of a frame: camera-frame points (m), pixel positions by K, and visibility by the
    depth buffer (hidden by the head itself on a turned face, by hair or glasses, or outside the image)."""
    cam = frame.camera
    M = np.asarray(cam.cam_from_world, np.float64)
    points = points_world @ M[:3, :3].T + M[:3, 3]
    uv = landmarks.project(points, cam.K)
    return {
        "layout": "ibug68 (0-based: 0-16 jaw from the subject's right, 17-26 brows, 27-35 nose, 36-47 eyes, "
        "48-67 lips)",
        "cam": points.round(6).tolist(),
        "uv": uv.round(4).tolist(),
        "visible": landmarks.visible(points, uv, depth).tolist(),
    }


def finalize(
    frame: Frame,
    raw: dict[str, Path],
    folder: Path,
    blender_version: str,
    eyes_world: np.ndarray,
    landmarks_world: np.ndarray | None = None,
) -> dict[str, Path]:
    """Check Blender's raw outputs and move the frame's files into place, JSON last."""
    out = frame_paths(folder, frame.name)
    depth = exr.clean_cycles_depth(exr.read_depth(raw["depth"]))
    if np.isnan(depth).any():
        raise RuntimeError(f"frame {frame.name}: renderer produced NaN depth in {raw['depth']}")
    labels, parts = split_index(np.rint(exr.read_channel(raw["index"])))
    top, top_part = max(human.LABELS.values()), max(PARTS.values())
    if labels.min() < 0 or labels.max() > top or parts.min() < 0 or parts.max() > top_part:
        raise RuntimeError(
            f"frame {frame.name}: material index pass has labels outside 0..{top} or parts outside 0..{top_part}"
        )
    # depth and labels see through clear lenses; the lens AOV says where one is (majority of the pixel's samples)
    lens = exr.read_channel(raw["lens"]) > 0.5
    labels[lens & (labels != human.GLASSES)] = human.LENS
    exr.write_depth(out["depth"], depth)
    exr.write_normals(
        out["normal"], camera_normals(exr.read_normals(raw["normal"]), frame.camera.cam_from_world, frame.camera.K)
    )
    # any person surface on the camera's path through transparent ones (lenses, strand tips) counts once
    exr.write_channels(out["matte"], {"A": np.clip(exr.read_channel(raw["person"]), 0.0, 1.0)})
    for key, values in (("mask", labels), ("parts", parts)):
        tmp_png = raw["index"].with_suffix(f".{key}.png")
        Image.fromarray(values.astype(np.uint8)).save(tmp_png)
        os.replace(tmp_png, out[key])
    os.replace(raw["color"], out["rgb"])
    for key in ("depth", "index", "lens", "person", "normal"):
        raw[key].unlink()
    meta = metadata(frame, blender_version, eyes_world)
    if landmarks_world is not None:
        meta["landmarks"] = landmark_record(frame, landmarks_world, depth)
    atomic_write_text(out["meta"], json.dumps(meta, indent=1))
    return out


def render_shard(
    params: RenderParams, frames: range, root: Path, on_frame: Callable[[int], None] | None = None
) -> Path:
    """Render the missing frames of a shard, then (re)write its manifest."""
    folder = shard_dir(root, frames)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)  # leftovers of an interrupted run are never read
    todo = [i for i in frames if not is_complete(folder, i)]
    if todo:
        import bpy

        from generation.blender.scene import BlenderScene

        scene = BlenderScene(*params.settings.resolution, params.settings.device)
        for i in todo:
            render_frame(scene, sample_frame(params, i), folder, tmp, bpy.app.version_string)
            if on_frame:
                on_frame(i)
    shutil.rmtree(tmp, ignore_errors=True)
    write_manifest(folder, frames)
    return folder


def render_frame(scene, frame: Frame, folder: Path, tmp: Path, blender_version: str) -> dict[str, Path]:
    """Realise, render and finalize one frame into `folder` (its JSON last); returns its files."""
    realised = realise(frame)
    raw = scene.render(frame, realised, tmp)
    points = realised.vertices[landmarks.ibug68()]
    out = finalize(frame, raw, folder, blender_version, realised.eyes_world, points)
    release_free_memory()  # keeps a long-running worker's resident size flat
    return out


def rerender(meta_path: Path, out: Path, samples: int | None = None, device: str = "cpu") -> dict[str, Path]:
    """Render a frame again from the description in its JSON (the data contract's promise), into `out`.

    Depth, labels, normals and landmarks come out identical; colour too up to the denoiser. `samples`
    overrides the sample count (a cleaner or quicker picture of the same scene)."""
    import dataclasses

    import bpy

    from generation.blender.scene import BlenderScene
    from generation.description import frame_from_dict

    try:
        frame = frame_from_dict(json.loads(Path(meta_path).read_text())["description"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{meta_path}: not a frame JSON written by `facedepth render` ({exc})") from None
    if samples:
        frame = dataclasses.replace(frame, samples=samples)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if frame_paths(out, frame.name)["meta"].exists():
        raise FileExistsError(f"{out}: already holds {frame.name}; choose an empty --out")
    tmp = out / ".tmp"
    try:
        scene = BlenderScene(frame.camera.width, frame.camera.height, device)
        return render_frame(scene, frame, out, tmp, bpy.app.version_string)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_manifest(folder: Path, frames: range) -> None:
    rows = []
    for i in frames:
        meta = json.loads(frame_paths(folder, frame_name(i))["meta"].read_text())
        d = meta["description"]
        rows.append(
            {
                "name": meta["name"],
                "index": i,
                "identity_id": meta["identity_id"],
                "expression": d["expression"]["preset"],
                **{k: meta["head_pose"][k] for k in ("yaw", "pitch", "roll")},
                "files": {k: p.name for k, p in frame_paths(folder, meta["name"]).items() if p.is_file()},
            }
        )
    atomic_write_text(folder / "manifest.json", json.dumps({"frames": rows}, indent=1))
