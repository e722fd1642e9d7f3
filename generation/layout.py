"""The render folder layout, spelled once: shard folders, frame file names, the glob that finds frames.

    ROOT/render.json                         which params made the frames (generation.shard)
    ROOT/shard_0000000-0000040/f0000000.rgb.png, .depth.exr, .mask.png, .normal.exr, .matte.exr, .parts.png, .json

A frame is complete exactly when its JSON exists (it is written last).
"""

from __future__ import annotations

from pathlib import Path

SUFFIXES = {
    "rgb": ".rgb.png",
    "depth": ".depth.exr",
    "mask": ".mask.png",
    "normal": ".normal.exr",
    "matte": ".matte.exr",
    "parts": ".parts.png",
    "meta": ".json",
}
REQUIRED = ("rgb", "depth", "mask", "meta")
OPTIONAL = tuple(k for k in SUFFIXES if k not in REQUIRED)  # added by formats 2-3: older frames lack them
SHARD_GLOB = "shard_*"
META_GLOB = f"{SHARD_GLOB}/f*.json"


def frame_name(index: int) -> str:
    """The name every file of frame `index` starts with."""
    return f"f{index:07d}"


def shard_dir(root: Path, frames: range) -> Path:
    return Path(root) / f"shard_{frames.start:07d}-{frames.stop:07d}"


def frame_paths(folder: Path, name: str) -> dict[str, Path]:
    """The files of frame `name` in a shard folder, by kind (rgb, depth, mask, normal, matte, parts, meta)."""
    return {key: Path(folder) / f"{name}{suffix}" for key, suffix in SUFFIXES.items()}
