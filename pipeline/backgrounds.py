"""Background photos for locator scenes: the CC0 HDRIs bundled in the bpy wheel, tone-mapped to 8-bit.

Only their middle band is kept (the horizon, where a photo's background lies; the
poles of an equirectangular image are stretched sky and floor).
"""

from __future__ import annotations

import numpy as np
import OpenEXR

from fdcore.schema import HDRIS


def hdri_backgrounds(names: tuple[str, ...] = HDRIS) -> list[np.ndarray]:
    """(H, W, 3) uint8 sRGB of each bundled HDRI's middle band, exposed so its median is mid-grey."""
    from generation.assets import hdri_path

    out = []
    for name in names:
        path = hdri_path(name)
        with OpenEXR.File(str(path)) as f:
            channels = f.channels()
            rgb = channels["RGB"].pixels if "RGB" in channels else np.stack([channels[c].pixels for c in "RGB"], -1)
        rgb = np.nan_to_num(np.asarray(rgb, np.float32)[..., :3], nan=0.0, posinf=0.0)
        h = rgb.shape[0]
        band = rgb[h // 4 : 3 * h // 4]
        band = band * (0.18 / max(float(np.median(band.mean(-1))), 1e-6))
        srgb = np.where(band <= 0.0031308, 12.92 * band, 1.055 * np.clip(band, 0, None) ** (1 / 2.4) - 0.055)
        out.append(np.clip(np.rint(srgb * 255), 0, 255).astype(np.uint8))
    return out
