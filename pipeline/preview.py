"""Contact sheets: RGB (optionally with the 68 landmarks, green visible, red hidden) beside colourised depth,
and optionally the face parts."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from fdcore.files import atomic_path
from generation import exr, human
from generation.layout import META_GLOB, frame_paths
from pipeline.colour import colourise

# a colour per face part (fdcore.labels.PARTS order): none black, skin grey, then distinct hues
PART_COLOURS = np.array(
    [
        (0, 0, 0),
        (150, 150, 150),
        (230, 120, 20),
        (250, 190, 120),
        (60, 170, 60),
        (150, 230, 150),
        (210, 40, 40),
        (250, 150, 190),
        (250, 250, 250),
        (150, 100, 200),
        (120, 80, 50),
    ],
    np.uint8,
)


def contact_sheet(
    render_root: Path,
    out: Path,
    count: int = 16,
    seed: int = 0,
    columns: int = 4,
    landmarks: bool = False,
    parts: bool = False,
) -> Path:
    """Save a grid of `count` random frames (RGB | depth, and | parts with `parts` where a frame has them) from
    all shards under `render_root`; `landmarks` draws each frame's 68 points on its RGB."""
    metas = sorted(Path(render_root).glob(META_GLOB))
    if not metas:
        raise FileNotFoundError(f"{render_root}: no rendered frames found; run `facedepth render` first")
    picks = random.Random(seed).sample(metas, min(count, len(metas)))
    tiles = []
    for meta in picks:
        files = frame_paths(meta.parent, meta.stem)
        rgb = np.asarray(Image.open(files["rgb"]).convert("RGB"))
        depth = exr.read_depth(files["depth"])
        mask = np.asarray(Image.open(files["mask"]))
        panels = [rgb, colourise(depth, mask != human.BACKGROUND)]
        if parts:
            labelled = files["parts"].is_file()
            panels.append(PART_COLOURS[np.asarray(Image.open(files["parts"]))] if labelled else np.zeros_like(rgb))
        tile = np.concatenate(panels, axis=1)
        info = json.loads(meta.read_text())
        img = Image.fromarray(tile)
        pose = info["head_pose"]
        draw = ImageDraw.Draw(img)
        marks = info.get("landmarks") if landmarks else None
        for (u, v), seen in zip(marks["uv"], marks["visible"]) if marks else ():
            r = max(1.0, rgb.shape[1] / 320)  # visible: green; hidden by the head, hair or glasses: red
            draw.ellipse((u - r, v - r, u + r, v + r), fill=(60, 255, 60) if seen else (255, 40, 40))
        draw.text(
            (4, 4),
            f"{info['name']} id{info['identity_id']} y{pose['yaw']:.0f} p{pose['pitch']:.0f}",
            fill=(255, 255, 255),
        )
        tiles.append(np.asarray(img))
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    sheet = np.zeros((rows * h, columns * w, 3), np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = tile[:h, :w]
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        Image.fromarray(sheet).save(tmp, format="PNG")
    return out
