"""Torch datasets over the prepared, memory-mapped splits.

Images are ImageNet-normalised; targets are normalised depth at half the
input resolution, taken at every other pixel (no interpolation, so no
mixing of face and background), with a validity mask of person pixels.
Augmentation (facedepth.augment) is seeded by (seed, epoch, index): the same
sample gets the same zoom, flip and camera effects whatever the worker count,
so CPU training is reproducible and `--resume` continues exactly. The
robustness evaluation uses the same path with a fixed effects preset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from facedepth.augment import Augment, context, geometric, photometric
from facedepth.depthnorm import DepthNorm
from facedepth.splits import EXTRA_FILES, load_split
from fdcore.labels import BACKGROUND, FACE, HEAD_LABELS  # noqa: F401  (re-exported)

# Mask labels of the render data contract (README): 0 is background, 1-4 the head.
FACE_SKIN = FACE
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def image_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 or float in [0, 1] -> normalised (3, H, W) float32."""
    x = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(((x - MEAN) / STD).transpose(2, 0, 1)))


def output_grid(a: np.ndarray) -> np.ndarray:
    """A map on the networks' half-resolution output grid: every other pixel (never interpolated, so no face
    value mixes with the background), cropped to (H//2, W//2)."""
    h, w = a.shape[:2]
    return a[: 2 * (h // 2) : 2, : 2 * (w // 2) : 2]


class DepthSplit(Dataset):
    """One prepared split; returns (image, target, valid, face, index): `valid` person pixels with depth, `face`
    those on face skin (the face-relief loss); `scales[index]` is metric -> trained depth. With `heads` (a
    multi-task model's extra tasks) a sixth item maps each task to its target, NaN where unknown."""

    def __init__(
        self,
        root: Path,
        split: str,
        norm: DepthNorm = DepthNorm(),
        augment: Augment | None = None,
        seed: int = 0,
        rows: list[int] | None = None,
        heads: tuple[str, ...] = (),
    ):
        """`rows` restricts the split to those rows (a learning curve's smaller training sets)."""
        folder = Path(root) / split
        data = load_split(root, split)
        self.rgb, self.depth, self.mask, self.manifest = data["rgb"], data["depth"], data["mask"], data["manifest"]
        missing = [t for t in heads if t not in data]
        if missing:
            raise ValueError(
                f"{folder} has no {', '.join(EXTRA_FILES[t] for t in missing)}: a model with heads {list(heads)} "
                f"needs renders that carry them (render format 2); render again and rerun `facedepth prepare`, "
                f"or train without train.model_cfg.MODEL.heads"
            )
        self.heads = tuple(t for t in EXTRA_FILES if t in heads)  # matte last: the context step zeroes it
        self.extra = {t: data[t] for t in self.heads}
        self.channels = {t: a.shape[3] if a.ndim == 4 else 1 for t, a in self.extra.items()}
        if rows is not None:
            rows = np.asarray(rows, np.int64)
            self.rgb, self.depth, self.mask = self.rgb[rows], self.depth[rows], self.mask[rows]
            self.extra = {t: a[rows] for t, a in self.extra.items()}
            self.manifest = self.manifest.iloc[rows].reset_index(drop=True)
        self.norm, self.augment, self.seed = norm, augment, seed
        if norm.canonical_focal and "fx" not in self.manifest.columns:
            raise ValueError(
                f"{folder}/manifest.parquet has no fx for train.canonical_focal; "
                f"rerun `facedepth prepare` with this version"
            )
        fx = self.manifest["fx"].to_numpy(np.float64) if "fx" in self.manifest.columns else np.ones(len(self.rgb))
        self.scales = norm.scale(fx, self.rgb.shape[2]).reshape(-1)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.rgb)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _aux(self, i: int) -> np.ndarray | None:
        """The extra tasks' targets of row i as one (H, W, C) float32 array: normal x, y, z, then matte."""
        if not self.heads:
            return None
        maps = [np.asarray(self.extra[t][i], np.float32) for t in self.heads]
        return np.concatenate([a if a.ndim == 3 else a[..., None] for a in maps], axis=-1)

    def _targets(self, aux: np.ndarray) -> dict[str, torch.Tensor]:
        out, c = {}, 0
        for t in self.heads:
            n = self.channels[t]
            out[t] = torch.from_numpy(np.ascontiguousarray(aux[..., c : c + n].transpose(2, 0, 1)))
            c += n
        return out

    def __getitem__(self, i: int):
        rgb, d, m = np.asarray(self.rgb[i]), np.asarray(self.depth[i]), np.asarray(self.mask[i])
        aux = self._aux(i)
        scale = self.scales[i]
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.augment else None
        if rng is not None:
            a = self.augment
            # all off: the random stream of earlier versions
            if a.p_background or a.p_occluder or a.p_edge or a.p_photo_edge:
                donor = self.rgb[int(rng.integers(0, len(self.rgb)))]
                before = m
                rgb, d, m = context(rgb, d, m, rng, a, donor)
                if "matte" in self.heads:  # the person hidden by an occluder or the photo's edge: no coverage
                    aux[..., -1] = np.where((before != BACKGROUND) & (m == BACKGROUND), 0.0, aux[..., -1])
            if aux is None:
                rgb, d, m, zoom = geometric(rgb, d, m, rng, self.augment)
            else:
                rgb, d, m, zoom, aux = geometric(rgb, d, m, rng, self.augment, aux, normals="normal" in self.heads)
            scale = scale / zoom  # a zoom by s is a focal length s times longer
        d, m = output_grid(d), output_grid(m)
        aux = None if aux is None else output_grid(aux)
        if rng is not None:
            if rng.uniform() < self.augment.flip:  # subsample first, so the flipped target is the target flipped
                rgb, d, m = rgb[:, ::-1], d[:, ::-1], m[:, ::-1]
                if aux is not None:
                    aux = aux[:, ::-1].copy()
                    if "normal" in self.heads:  # a mirrored surface's normal points the other way in x
                        aux[..., 0] = -aux[..., 0]
            rgb = photometric(np.ascontiguousarray(rgb), rng, self.augment)
        d = d * scale
        valid = (m != BACKGROUND) & np.isfinite(d) & (d > self.norm.near) & (d < self.norm.far)
        target = np.where(valid, self.norm.encode(np.where(valid, d, 1.0)), 0).astype(np.float32)
        face = valid & (m == FACE_SKIN)
        item = (
            image_tensor(rgb),
            torch.from_numpy(target[None].copy()),
            torch.from_numpy(valid[None].copy()),
            torch.from_numpy(face[None].copy()),
            torch.tensor(i),
        )
        return item if aux is None else (*item, self._targets(aux))
