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


def write_depth(path: str | Path, depth: np.ndarray, attributes: dict[str, str] = {}) -> None:
    """Write atomically: a reader never sees a half-written file."""
    write_channels(path, {CHANNEL: depth}, attributes)


def _header(path: str | Path) -> dict:
    """An EXR's header, {} when the file is not a readable EXR (OpenEXR raises bare, terse errors)."""
    try:
        with OpenEXR.File(str(path), header_only=True) as f:
            return dict(f.header())  # a copy: closing the file empties the dict it hands out
    except Exception:
        return {}


def header_attribute(path: str | Path, key: str) -> str | None:
    """A string attribute of an EXR header, None when absent or the file is not a readable EXR."""
    value = _header(path).get(key)
    return value if isinstance(value, str) else None


def colour_channels(path: str | Path) -> list[str] | None:
    """The channel names of an EXR image with R, G and B (a usable colour texture), else None."""
    names = [getattr(c, "name", str(c)) for c in _header(path).get("channels", [])]
    return names if {"R", "G", "B"} <= set(names) else None


def write_channels(path: str | Path, channels: dict[str, np.ndarray], attributes: dict[str, str] = {}) -> None:
    """float32 ZIP EXR of named (H, W) channels (and string header attributes), written atomically."""
    data = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in channels.items()}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **attributes}
    with atomic_path(Path(path)) as tmp, OpenEXR.File(header, data) as f:
        f.write(str(tmp))


NORMAL_CHANNELS = ("X", "Y", "Z")


def write_normals(path: str | Path, normals: np.ndarray) -> None:
    """(H, W, 3) unit normals as channels X, Y, Z."""
    write_channels(path, {c: normals[..., i] for i, c in enumerate(NORMAL_CHANNELS)})


def read_normals(path: str | Path) -> np.ndarray:
    """(H, W, 3) float32 normals from channels X, Y, Z (ours and Blender's vector passes)."""
    path = Path(path)
    try:
        with OpenEXR.File(str(path)) as f:
            channels = f.channels()
            if not set(NORMAL_CHANNELS) <= set(channels):
                raise DepthFileError(f"{path}: expected channels X, Y, Z, found {sorted(channels)}")
            return np.stack([np.asarray(channels[c].pixels, np.float32) for c in NORMAL_CHANNELS], -1)
    except DepthFileError:
        raise
    except Exception as exc:
        raise DepthFileError(f"{path}: unreadable EXR ({exc}); re-render this frame") from None


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
            pixels = np.array(channels[name].pixels, dtype=np.float32) if name is not None else None
            if pixels is None or pixels.ndim != 2:
                found = f"{name} ({pixels.shape[-1]} values per pixel)" if pixels is not None else sorted(channels)
                raise DepthFileError(
                    f"{path}: expected one depth channel (Z, or a single channel), found {found}; "
                    f"write depth as one float channel"
                )
            return pixels
    except DepthFileError:
        raise
    except Exception as exc:  # OpenEXR raises bare RuntimeErrors with terse messages
        raise DepthFileError(f"{path}: unreadable EXR ({exc}); re-render this frame") from None


def clean_cycles_depth(depth: np.ndarray) -> np.ndarray:
    """Blender's Z pass with misses (1e10) mapped to +inf."""
    out = depth.astype(np.float32, copy=True)
    out[out > MISS_THRESHOLD] = np.inf
    return out
