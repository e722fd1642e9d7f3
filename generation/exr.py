"""Depth maps as single-channel float32 OpenEXR files (lossless ZIP).

Values are metres of planar camera z; +inf marks rays that hit nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR

from fdcore.files import atomic_path

CHANNEL = "Z"
MISS_THRESHOLD = 1e9  # Cycles writes 1e10 for rays that leave the scene


class DepthFileError(RuntimeError):
    """An unreadable or malformed depth file; the message names it."""


def write_depth(path: str | Path, depth: np.ndarray) -> None:
    """Write atomically: a reader never sees a half-written file."""
    path = Path(path)
    depth = np.ascontiguousarray(depth, dtype=np.float32)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with atomic_path(path) as tmp, OpenEXR.File(header, {CHANNEL: depth}) as f:
        f.write(str(tmp))


def read_depth(path: str | Path) -> np.ndarray:
    """(H, W) float32 depth in metres (our channel `Z`, or Blender's single `V`)."""
    return read_channel(path)


def read_channel(path: str | Path) -> np.ndarray:
    """(H, W) float32 of a single-channel EXR: depth, or one of Blender's AOV passes (object index, shirt)."""
    path = Path(path)
    try:
        with OpenEXR.File(str(path)) as f:
            channels = f.channels()
            name = CHANNEL if CHANNEL in channels else next(iter(channels)) if len(channels) == 1 else None
            if name is None:
                raise DepthFileError(f"{path}: expected one depth channel, found {sorted(channels)}")
            return np.array(channels[name].pixels, dtype=np.float32)
    except DepthFileError:
        raise
    except Exception as exc:  # OpenEXR raises bare RuntimeErrors with terse messages
        raise DepthFileError(f"{path}: unreadable EXR ({exc}); re-render this frame") from None


def clean_cycles_depth(depth: np.ndarray) -> np.ndarray:
    """Blender's Z pass with misses (1e10) mapped to +inf."""
    out = depth.astype(np.float32, copy=True)
    out[out > MISS_THRESHOLD] = np.inf
    return out
