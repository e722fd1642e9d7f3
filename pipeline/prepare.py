"""Renders -> validated, resized, identity-disjoint training splits.

Every frame is checked; bad frames are reported with a reason, never dropped
silently and never fatal. Each split is written as memory-mappable .npy
arrays (rgb uint8 NHWC, depth float32 metres, mask uint8) plus a parquet
manifest of per-frame metadata. The output folder is built beside the target
and swapped in at the end, so an interrupted run leaves the old one intact.
Frames are read twice (validate, then write) so memory stays flat at any
dataset size; decoding is cheap next to rendering.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from facedepth.splits import SPLIT_FILES, create_extras, create_split
from fdcore.schema import SPLITS, PrepareParams
from generation import exr, human
from generation.layout import META_GLOB, OPTIONAL, SHARD_GLOB, frame_paths

FACE_LABELS = (human.FACE, human.EYES, human.MOUTH)


class BadFrame(Exception):
    """A frame that cannot be used; the message is the reason shown in the report."""


def load_frame(meta_path: Path, min_head_pixels: int) -> dict:
    """Read and validate one frame; raises BadFrame with a reason."""
    stem = str(meta_path)[: -len(".json")]
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or bytes that are not UTF-8
        raise BadFrame(f"unreadable JSON ({exc.__class__.__name__})") from None
    try:
        manifest_row(meta, (1, 1), "")
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise BadFrame(f"JSON lacks frame metadata ({exc.__class__.__name__}: {exc}); re-render the frame") from None
    files = {k: p for k, p in frame_paths(Path(stem).parent, Path(stem).name).items() if k != "meta"}
    missing = [p.name for k, p in files.items() if k not in OPTIONAL and not p.is_file()]
    if missing:
        raise BadFrame(f"missing file(s): {', '.join(missing)}")
    try:
        rgb = np.asarray(Image.open(files["rgb"]).convert("RGB"))
        mask = np.asarray(Image.open(files["mask"]))
    except OSError as exc:
        raise BadFrame(f"unreadable image ({exc})") from None
    try:
        depth = exr.read_depth(files["depth"])
    except exr.DepthFileError:
        raise BadFrame("unreadable EXR depth") from None
    if not rgb.shape[:2] == mask.shape == depth.shape:
        raise BadFrame(f"size mismatch rgb {rgb.shape[:2]} mask {mask.shape} depth {depth.shape}")
    extras = {}
    try:  # each optional file of newer render formats (normal, matte: 2; parts: 3) that this frame has
        for kind in (k for k in OPTIONAL if files[k].is_file()):
            extras[kind] = _read_extra(kind, files[kind])
    except (exr.DepthFileError, OSError) as exc:
        raise BadFrame(f"unreadable {files[kind].name} ({str(exc)[:80]})") from None
    for kind, values in extras.items():
        if values.shape[:2] != mask.shape:
            raise BadFrame(f"size mismatch: {files[kind].name} is {values.shape[:2]}, not {mask.shape}")
    human_px = mask != human.BACKGROUND
    if np.isnan(depth).any():
        raise BadFrame("NaN depth")
    if not np.isfinite(depth[human_px]).all() or (depth[human_px] <= 0).any():
        raise BadFrame("non-finite or non-positive depth on the person")
    face = np.isin(mask, FACE_LABELS)
    if face.sum() < min_head_pixels:
        raise BadFrame(f"empty head mask ({int(face.sum())} face pixels < {min_head_pixels})")
    border = np.concatenate([face[0], face[-1], face[:, 0], face[:, -1]])
    if border.any():
        raise BadFrame("head out of frame (face touches the image border)")
    return {"meta": meta, "rgb": rgb, "depth": depth, "mask": mask, **extras}


def _read_extra(kind: str, path: Path) -> np.ndarray:
    if kind == "normal":
        return exr.read_normals(path)
    return exr.read_channel(path) if path.suffix == ".exr" else np.asarray(Image.open(path))


def majority(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Each output pixel's label: the one covering most of its area (labels and face parts alike)."""
    values = np.unique(labels)
    cover = np.stack([cv2.resize((labels == v).astype(np.float32), size, interpolation=cv2.INTER_AREA) for v in values])
    return values[np.argmax(cover, axis=0)].astype(np.uint8)


def resize_frame(rgb: np.ndarray, depth: np.ndarray, mask: np.ndarray, size: tuple[int, int]):
    """Area-resize RGB; each output label is the label covering most of its area; depth averaged within it.

    All three use the same area footprint per output pixel, so mask, depth and
    RGB stay aligned (no nearest-neighbour shift toward the top-left), and an
    output depth averages only input pixels of its own label: never a face
    pixel mixed with the neck or the wall, so no depth that exists nowhere.
    """
    w, h = size
    area = lambda a: cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)  # noqa: E731
    labels = np.unique(mask)
    mask_out = majority(mask, size)
    out = np.full((h, w), np.inf, np.float32)  # a label with no finite depth (a background miss) stays +inf
    for label in labels:
        member = (mask == label) & np.isfinite(depth)
        total, count = area(np.where(member, depth, 0).astype(np.float64)), area(member.astype(np.float64))
        use = (mask_out == label) & (count > 1e-9)
        out[use] = (total[use] / count[use]).astype(np.float32)
    return area(rgb), out, mask_out


def resize_extra(kind: str, values: np.ndarray, mask: np.ndarray, mask_out: np.ndarray, size) -> np.ndarray:
    """An optional map at the prepared size: normals averaged within the output pixel's label (as depth is) and
    renormalised; the matte by area; face parts by majority within the output pixel's label (so a part always
    refines its pixel's label)."""
    if kind == "normal":
        return resize_normals(values, mask, mask_out, size)
    if kind == "matte":
        return np.clip(cv2.resize(values.astype(np.float32), size, interpolation=cv2.INTER_AREA), 0.0, 1.0)
    return parts_within_labels(values, mask, mask_out, size)


def parts_within_labels(parts: np.ndarray, mask: np.ndarray, mask_out: np.ndarray, size) -> np.ndarray:
    """Each output pixel's part: the one covering most of its area among input pixels of its own label."""
    w, h = size
    out, best = np.zeros((h, w), np.uint8), np.full((h, w), -1.0, np.float32)
    for label in np.unique(mask):
        member = mask == label
        for part in np.unique(parts[member]):
            cover = cv2.resize((member & (parts == part)).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
            win = (mask_out == label) & (cover > best)
            out[win], best[win] = part, cover[win]
    return out


def resize_normals(normal: np.ndarray, mask: np.ndarray, mask_out: np.ndarray, size) -> np.ndarray:
    w, h = size
    area = lambda a: cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)  # noqa: E731
    out = np.full((h, w, 3), np.nan, np.float32)
    for label in np.unique(mask):
        member = (mask == label) & np.isfinite(normal).all(-1)
        total = area(np.where(member[..., None], normal, 0).astype(np.float32))
        use = (mask_out == label) & (area(member.astype(np.float32)) > 1e-6)
        out[use] = total[use]
    out /= np.linalg.norm(out, axis=-1, keepdims=True)
    return out


def split_identities(ids, ratios: dict[str, float], seed: int) -> dict[int, str]:
    """Shuffle identities and cut by ratio; every split with ratio > 0 gets one when there are enough."""
    ids = sorted(set(int(i) for i in ids))
    order = np.random.default_rng([seed, 7]).permutation(ids).tolist()
    n = len(order)
    counts = {s: int(round(ratios[s] * n)) for s in SPLITS}
    for s in ("test", "val"):  # small datasets: make sure evaluation splits are not empty
        if ratios[s] > 0 and counts[s] == 0 and n >= 3:
            counts[s] = 1
    counts["train"] = n - counts["val"] - counts["test"]
    if min(counts.values()) < 1:
        raise ValueError(
            f"{n} identities cannot fill the train/val/test splits {counts} (ratios {ratios}); "
            f"render more identities (render.identities) or change prepare.splits"
        )
    out, start = {}, 0
    for s in SPLITS:
        for i in order[start : start + counts[s]]:
            out[i] = s
        start += counts[s]
    return out


def _number(value, what: str, positive: bool = False) -> float:
    """A finite number (never a bool, string or list), or a ValueError naming the key."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not np.isfinite(value)
        or (positive and not value > 0)
    ):
        raise ValueError(f"{what} = {str(value)[:40]!r} is not a finite{' positive' if positive else ''} number")
    return float(value)


def check_meta(meta: dict) -> None:
    """The numbers prepare and evaluation use, checked: a bad one rejects the frame with its key named."""
    if not isinstance(meta, dict):
        raise ValueError("the JSON is not an object")
    ident = meta["identity_id"]
    if isinstance(ident, bool) or not isinstance(ident, int) or not 0 <= ident < 2**31:
        raise ValueError(f"identity_id = {str(ident)[:40]!r} is not a whole number in 0..2^31-1")
    for k in ("yaw", "pitch", "roll"):
        _number(meta["head_pose"][k], f"head_pose.{k}")
    eyes = meta["head_pose"]["eyes_cam"]
    if not isinstance(eyes, list) or len(eyes) != 3:
        raise ValueError("head_pose.eyes_cam is not 3 numbers")
    for i, v in enumerate(eyes):
        _number(v, f"head_pose.eyes_cam[{i}]")
    _number(eyes[2], "head_pose.eyes_cam[2] (depth of the eyes)", positive=True)
    cam = meta["description"]["camera"]
    for k in ("width", "height"):
        _number(cam[k], f"description.camera.{k}", positive=True)
    K = np.asarray(meta["K"], dtype=np.float64)
    if K.shape != (3, 3) or not np.isfinite(K).all() or not (K[0, 0] > 0 and K[1, 1] > 0):
        raise ValueError("K is not a 3x3 camera matrix with positive focal lengths")


def manifest_row(meta: dict, size: tuple[int, int], shard: str) -> dict:
    check_meta(meta)
    d = meta["description"]
    K = np.asarray(meta["K"])
    sx, sy = size[0] / d["camera"]["width"], size[1] / d["camera"]["height"]
    ident = d["identity"]
    lights = d["lights"]
    eye = K @ np.asarray(meta["head_pose"]["eyes_cam"], np.float64)  # eye centre, K's pixel-centre convention
    return {
        "name": meta["name"],
        "shard": shard,
        "identity_id": meta["identity_id"],
        "yaw": meta["head_pose"]["yaw"],
        "pitch": meta["head_pose"]["pitch"],
        "roll": meta["head_pose"]["roll"],
        "expression": d["expression"]["preset"],
        "hair_style": ident["hair_style"],
        "skin_tone": ident["skin_tone"],
        "gender": ident["gender"],
        "age": ident["age"],
        "focal_mm": d["camera"]["focal_mm"],
        "distance_m": d["camera"]["distance_m"],
        "fx": K[0, 0] * sx,
        "fy": K[1, 1] * sy,
        "cx": K[0, 2] * sx,
        "cy": K[1, 2] * sy,
        "eye_u": eye[0] / eye[2] * sx,
        "eye_v": eye[1] / eye[2] * sy,
        "n_lights": len(lights),
        "kelvin": float(np.mean([light["kelvin"] for light in lights])) if lights else np.nan,
        "environment": d["environment"],
        "background": d["background"]["kind"],
        "cam_from_world": json.dumps(meta["cam_from_world"]),
    }


def scan(renders: Path, min_head_pixels: int, progress=lambda: None) -> tuple[list[tuple[Path, int]], pd.DataFrame]:
    """Validate every frame: ([(JSON path, identity id) of good frames], rejected frames with reasons)."""
    metas = sorted(Path(renders).glob(META_GLOB))
    files = Path(renders).glob(f"{SHARD_GLOB}/f*.*.*")  # <name>.rgb.png, <name>.depth.exr, ...
    orphans = sorted({f.with_name(f.name.split(".")[0] + ".json") for f in files} - set(metas))
    rejected = [
        {"frame": o.stem, "shard": o.parent.name, "reason": "incomplete: no JSON (interrupted render?)"}
        for o in orphans
    ]
    kept = []
    for meta_path in metas:
        try:
            frame = load_frame(meta_path, min_head_pixels)
        except BadFrame as exc:
            rejected.append({"frame": meta_path.stem, "shard": meta_path.parent.name, "reason": str(exc)})
        else:
            kept.append((meta_path, frame["meta"]["identity_id"]))
        progress()
    return kept, pd.DataFrame(rejected, columns=["frame", "shard", "reason"])


MARKER = ".facedepth-prepared"  # what makes a folder ours to replace


def check_output(renders: Path, out: Path) -> None:
    """Refuse an --out that would destroy input or a folder this stage did not write."""
    r, o = Path(renders).resolve(), Path(out).resolve()
    if o == r or o in r.parents or r in o.parents:
        raise ValueError(
            f"--out {out} overlaps --renders {renders}; prepared data must go to its own folder "
            f"(e.g. data/prepared), never into or above the renders"
        )
    if o.exists() and (not o.is_dir() or (any(o.iterdir()) and not (o / MARKER).is_file())):
        raise ValueError(
            f"--out {out} exists and was not written by `facedepth prepare` (no {MARKER}); "
            f"nothing was deleted: choose a new or empty folder"
        )


def prepare(renders: Path, out: Path, p: PrepareParams, progress=lambda: None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the splits under `out`; returns (manifest of kept frames, rejected frames with reasons).

    `out` is replaced only if it is empty or a previous prepare output; the
    new folder is complete before the old one is moved aside and removed.
    """
    out = Path(out)
    check_output(renders, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _only_writer(out):
        return _prepare(renders, out, p, progress)


@contextlib.contextmanager
def _only_writer(out: Path):
    """Hold an exclusive lock beside `out` while preparing: a second prepare into it stops, named."""
    import fcntl

    lock = out.parent / f".{out.name}.lock"
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(
                f"{out}: another `facedepth prepare` is writing here now; wait for it or choose another --out"
            ) from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)  # no other writer waits (they stop at once), so nothing is left behind


def _prepare(renders: Path, out: Path, p: PrepareParams, progress) -> tuple[pd.DataFrame, pd.DataFrame]:
    kept, rejected = scan(renders, p.min_head_pixels, progress)
    if not kept:
        raise RuntimeError(f"{renders}: no usable frames ({len(rejected)} rejected); see the table above")
    assignment = split_identities([i for _, i in kept], p.splits, p.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    # names no one else uses, made by this run: nothing beside `out` that this run did not create is touched
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes 0700; the prepared folder is an ordinary shared one
    try:
        manifests = _write_splits(renders, tmp, kept, assignment, p)
        rejected.to_csv(tmp / "rejected.csv", index=False)
        (tmp / MARKER).write_text(json.dumps({"renders": str(renders), "resolution": list(p.resolution)}) + "\n")
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            out.rename(old / out.name)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return pd.concat(manifests, ignore_index=True), rejected


def _write_splits(renders: Path, tmp: Path, kept, assignment, p: PrepareParams) -> list[pd.DataFrame]:
    manifests = []
    w, h = p.resolution
    # an optional map (normals, matte: format 2; parts: 3) goes into the splits when every kept frame has it
    extras = [k for k in OPTIONAL if all(frame_paths(m.parent, m.stem)[k].is_file() for m, _ in kept)]
    for split in SPLITS:
        members = [m for m, i in kept if assignment[i] == split]
        folder = tmp / split
        folder.mkdir()
        n = len(members)
        rgb, depth, mask = create_split(folder, n, h, w)
        extra = create_extras(folder, n, h, w, extras)
        rows = []
        for k, meta_path in enumerate(members):
            frame = load_frame(meta_path, p.min_head_pixels)
            rgb[k], depth[k], mask[k] = resize_frame(frame["rgb"], frame["depth"], frame["mask"], p.resolution)
            for kind, arr in extra.items():
                arr[k] = resize_extra(kind, frame[kind], frame["mask"], mask[k], p.resolution)
            rows.append({**manifest_row(frame["meta"], p.resolution, meta_path.parent.name), "split": split, "row": k})
        for arr in (rgb, depth, mask, *extra.values()):
            arr.flush()
        del rgb, depth, mask, extra
        table = pd.DataFrame(rows)
        table.to_parquet(folder / SPLIT_FILES["manifest"], index=False)
        manifests.append(table)
    return manifests
