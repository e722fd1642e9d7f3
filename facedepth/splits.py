"""The prepared-split format, written by `facedepth prepare` and read by training, evaluation and reports.

Per split folder: rgb.npy (N, H, W, 3) uint8, depth.npy (N, H, W) float32
metres, mask.npy (N, H, W) uint8 labels, manifest.parquet (one row per frame);
from renders that have them, normal.npy (N, H, W, 3) float16 unit camera-frame
normals (NaN where none), matte.npy (N, H, W) float16 person coverage 0..1 and
parts.npy (N, H, W) uint8 face parts (fdcore.labels.PARTS).
numpy and pandas only, so preparing data never loads torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fdcore.files import reserve

SPLIT_FILES = {"rgb": "rgb.npy", "depth": "depth.npy", "mask": "mask.npy", "manifest": "manifest.parquet"}
# optional arrays (older renders lack them): dtype and the shape of one pixel's value
EXTRAS = {"normal": (np.float16, (3,)), "matte": (np.float16, ()), "parts": (np.uint8, ())}
EXTRA_FILES = {k: f"{k}.npy" for k in EXTRAS}


def _disk_array(path: Path, dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A writable memory map whose disk space is reserved up front (a full disk fails here, named)."""
    arr = np.lib.format.open_memmap(path, "w+", dtype, shape)
    reserve(path)
    return arr


def create_split(folder: Path, n: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Writable memory maps (rgb uint8, depth float32 metres, mask uint8 labels) of a new prepared split."""
    folder = Path(folder)
    return (
        _disk_array(folder / SPLIT_FILES["rgb"], np.uint8, (n, height, width, 3)),
        _disk_array(folder / SPLIT_FILES["depth"], np.float32, (n, height, width)),
        _disk_array(folder / SPLIT_FILES["mask"], np.uint8, (n, height, width)),
    )


def create_extras(folder: Path, n: int, height: int, width: int, kinds) -> dict[str, np.ndarray]:
    """Writable memory maps of the optional arrays (normal, matte, parts) `kinds` of a new prepared split."""
    folder = Path(folder)
    return {k: _disk_array(folder / EXTRA_FILES[k], EXTRAS[k][0], (n, height, width, *EXTRAS[k][1])) for k in kinds}


def load_split(root: Path, split: str, mmap: bool = True) -> dict:
    """Arrays (memory-mapped by default) and manifest of one prepared split."""
    folder = Path(root) / split
    if not (folder / SPLIT_FILES["manifest"]).is_file():
        raise FileNotFoundError(f"{folder}: prepared split missing; run `facedepth prepare` (or `dvc repro prepare`)")
    mode = "r" if mmap else None
    arrays = {k: np.load(folder / name, mmap_mode=mode) for k, name in SPLIT_FILES.items() if k != "manifest"}
    arrays.update({k: np.load(folder / f, mmap_mode=mode) for k, f in EXTRA_FILES.items() if (folder / f).is_file()})
    return {**arrays, "manifest": pd.read_parquet(folder / SPLIT_FILES["manifest"])}
