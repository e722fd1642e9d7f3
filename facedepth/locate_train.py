"""Train the person locator (facedepth.locate) on scenes composed from a prepared split's renders.

Every step's scenes are drawn from a generator seeded by (seed, step), so a run
resumes exactly from its last checkpoint and a rerun with the same arguments
gives the same scenes. Targets are the scenes' person and head maps area-averaged
to the output's quarter resolution (soft at edges) and each head pixel's roll.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from facedepth.augment import Augment, photometric
from facedepth.data import image_tensor
from facedepth.locate import OUT_STRIDE, LocatorNet, heads_of, probabilities
from facedepth.scenes import Placed, Scene, compose
from facedepth.splits import load_split
from fdcore.files import atomic_path

# camera effects on whole scenes: the depth model's profile, without its geometric part
SCENE_EFFECTS = Augment(flip=0.0, zoom=(1.0, 1.0), shift=0.0)


@dataclass
class LocatorConfig:
    steps: int = 6000
    batch: int = 24
    lr: float = 2e-3
    base: int = 16
    hw: tuple[int, int] = (128, 160)  # scene size: the network sees a 640x480 photo at 160x120 (+ padding)
    seed: int = 0
    width: int = 160
    recolour: float = 0.0  # share of people whose clothes change colour (scenes.recoloured)
    init: str = ""  # a locator checkpoint to start from (fine-tuning); "" = fresh weights
    centres: bool = False  # also learn each head's centre (a fifth map; LocatorNet)


def targets(scene: Scene, centres: bool = False) -> np.ndarray:
    """(4, h/4, w/4) float32: person, head (area fractions), and the roll's cos and sin on person pixels; with
    `centres` a fifth map, `centre_map`."""
    h, w = scene.person.shape
    size = (w // OUT_STRIDE, h // OUT_STRIDE)

    def area(mask: np.ndarray) -> np.ndarray:
        return cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)

    roll = np.zeros((h, w), np.float32)
    for k, placed in enumerate(scene.placed, 1):
        roll[scene.person == k] = math.radians(placed.roll)
    person = scene.person > 0
    maps = [area(person), area(scene.head), area(np.cos(roll) * person), area(np.sin(roll) * person)]
    if centres:
        maps.append(centre_map(scene))
    return np.stack(maps).astype(np.float32)


MIN_HEAD_PX = 16  # scene pixels of visible head that make a head worth a centre (one map pixel)


def centre_map(scene: Scene) -> np.ndarray:
    """(h/4, w/4): a Gaussian peak of height 1 on the map pixel holding each person's visible-head centroid,
    sigma a sixth of the visible head's size (at least 0.7 map pixels), the largest where two overlap (as
    CenterNet's heatmaps)."""
    h, w = scene.person.shape
    out = np.zeros((h // OUT_STRIDE, w // OUT_STRIDE), np.float32)
    ys, xs = np.mgrid[0 : out.shape[0], 0 : out.shape[1]]
    for k in range(1, len(scene.placed) + 1):
        py, px = np.nonzero(scene.head & (scene.person == k))
        if len(px) < MIN_HEAD_PX:
            continue
        cx, cy = int((px.mean() + 0.5) / OUT_STRIDE), int((py.mean() + 0.5) / OUT_STRIDE)
        sigma = max(0.7, math.sqrt(len(px)) / OUT_STRIDE / 6)
        out = np.maximum(out, np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2)).astype(np.float32))
    return out


def frame_of(placed: Placed, tile_hw: tuple[int, int]) -> tuple[float, float, float]:
    """A pasted render's frame in the scene: centre x, y (pixel edges at integers) and width, in scene pixels."""
    th, tw = tile_hw
    m = placed.matrix
    cx, cy = m @ np.array([(tw - 1) / 2, (th - 1) / 2, 1.0])  # OpenCV maps pixel centres to pixel centres
    return float(cx) + 0.5, float(cy) + 0.5, tw * math.hypot(m[0, 0], m[1, 0])


def batch_of(
    rng: np.random.Generator, tiles: dict, n: int, cfg: LocatorConfig, backgrounds: list[np.ndarray]
) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for _ in range(n):
        scene = compose(rng, tiles["rgb"], tiles["mask"], cfg.hw, backgrounds, recolour=cfg.recolour)
        rgb = photometric(scene.rgb, rng, SCENE_EFFECTS)
        xs.append(image_tensor(rgb))
        ys.append(torch.from_numpy(targets(scene, cfg.centres)))
    return torch.stack(xs), torch.stack(ys)


def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """BCE on person and head plus a soft Dice on heads (they are small), and the roll on head pixels."""
    bce = F.binary_cross_entropy_with_logits(out[:, :2], y[:, :2])
    p = torch.sigmoid(out[:, 1])
    dice = 1 - (2 * (p * y[:, 1]).sum((1, 2)) + 1) / (p.sum((1, 2)) + y[:, 1].sum((1, 2)) + 1)
    weight = y[:, 1:2]
    direction = F.normalize(y[:, 2:4], dim=1, eps=1e-6)
    roll = (weight * (out[:, 2:4] - direction).abs()).sum() / weight.sum().clamp_min(1.0)
    loss = bce + dice.mean() + 0.5 * roll
    return loss + centre_loss(out[:, 4], y[:, 4]) if out.shape[1] > 4 else loss


def centre_loss(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's focal loss (alpha 2, beta 4) per peak: pixels near a peak are punished less for firing."""
    p = torch.sigmoid(logit).clamp(1e-4, 1 - 1e-4)
    peak = target >= 1.0
    pos = (peak * (1 - p) ** 2 * torch.log(p)).sum()
    neg = (~peak * (1 - target) ** 4 * p**2 * torch.log(1 - p)).sum()
    return -(pos + neg) / peak.sum().clamp_min(1)


@torch.no_grad()
def located_rate(model: LocatorNet, tiles: dict, cfg: LocatorConfig, backgrounds, n: int = 96) -> dict:
    """On n fixed scenes: the share of pasted heads with a located head centre on them, false heads, and the
    median distance of a located head's crop centre from its render's frame centre, in frame widths."""
    rng = np.random.default_rng([cfg.seed, 999_999])
    model.eval()
    hit = total = false = 0
    off = []
    for _ in range(n):
        scene = compose(rng, tiles["rgb"], tiles["mask"], cfg.hw, backgrounds)
        y = probabilities(model(image_tensor(scene.rgb)[None])[0].numpy())
        heads = heads_of(y, OUT_STRIDE)
        who = [(hd, int(scene.person[min(int(hd.y), cfg.hw[0] - 1), min(int(hd.x), cfg.hw[1] - 1)])) for hd in heads]
        ids = {k for _, k in who}
        visible = {k for k in range(1, len(scene.placed) + 1) if (scene.head & (scene.person == k)).sum() >= 16}
        hit += len(visible & ids)
        total += len(visible)
        false += sum(1 for i in ids if i == 0)
        for hd, k in who:
            if k in visible:
                cx, cy, width = frame_of(scene.placed[k - 1], tiles["mask"].shape[1:3])
                crop = hd.region()
                off.append(math.hypot(crop.x - cx, crop.y - cy) / width)
    model.train()
    return {
        "located": hit / max(1, total),
        "heads": total,
        "false_per_scene": false / n,
        "frame_offset": float(np.median(off)) if off else float("nan"),
    }


def train_locator(
    prepared: Path, out: Path, cfg: LocatorConfig, backgrounds: list[np.ndarray], log=print, resume: bool = True
) -> dict:
    """Train, checkpointing to out/last.pt every 200 steps (resumable) and writing out/best.pt at the end."""
    torch.manual_seed(cfg.seed)
    train, val = load_split(prepared, "train", mmap=False), load_split(prepared, "val", mmap=False)
    model = LocatorNet(cfg.base, cfg.centres)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps, pct_start=0.05)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    step, seconds = 0, 0.0
    last = out / "last.pt"
    if resume and last.is_file():
        state = torch.load(last, map_location="cpu", weights_only=True)
        if state["config"] != _config_dict(cfg):
            raise ValueError(f"{last}: written with other settings {state['config']}; delete it or pass the same")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, seconds = state["step"], state["seconds"]
        log(f"resumed at step {step}")
    elif cfg.init:
        from facedepth.checkpoint import read_state

        model.load_state_dict(widened(read_state(Path(cfg.init), "cpu", kind="locator")["model"], model))
        log(f"started from {cfg.init}")
    model.train()
    t0, running = time.time() - seconds, None
    while step < cfg.steps:
        rng = np.random.default_rng([cfg.seed, step])
        x, y = batch_of(rng, train, cfg.batch, cfg, backgrounds)
        loss = loss_fn(model(x), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"locator loss is {loss.item()} at step {step}; lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 200 == 0 or step == cfg.steps:
            state = _state(model, cfg, step, time.time() - t0)
            state.update(optimizer=opt.state_dict(), scheduler=sched.state_dict())
            with atomic_path(last) as tmp:
                torch.save(state, tmp)
            log(f"step {step}/{cfg.steps} loss {running:.4f} {(time.time() - t0) / 60:.1f} min")
    scores = located_rate(model, val, cfg, backgrounds)
    state = _state(model, cfg, step, time.time() - t0)
    state["val"] = scores
    with atomic_path(out / "best.pt") as tmp:
        torch.save(state, tmp)
    log(f"val: {scores}")
    return scores


def widened(state: dict, model: LocatorNet) -> dict:
    """A 4-map locator's weights for a model with a centre map too: the fifth output starts at zero weights and
    a bias of -2.2 (a peak probability of 0.1, as CenterNet starts its heatmaps)."""
    out = model.out
    if state["out.weight"].shape[0] == out.weight.shape[0]:
        return state
    if state["out.weight"].shape[0] > out.weight.shape[0]:
        raise ValueError("the --init locator has a centre map: fine-tune it with --centres")
    state = dict(state)
    weight, bias = torch.zeros_like(out.weight), torch.full_like(out.bias, -2.2)
    n = state["out.weight"].shape[0]
    weight[:n], bias[:n] = state["out.weight"], state["out.bias"]
    state["out.weight"], state["out.bias"] = weight, bias
    return state


def _config_dict(cfg: LocatorConfig) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


def _state(model: LocatorNet, cfg: LocatorConfig, step: int, seconds: float) -> dict:
    return {
        "kind": "locator",
        "model": model.state_dict(),
        "config": _config_dict(cfg),
        "step": step,
        "seconds": seconds,
    }
