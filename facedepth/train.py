"""Training: Adam + LR schedule, hybrid loss, AMP on GPU, checkpoints, resume, dvclive.

Runs single-process by default; under `torchrun --nproc_per_node N` it uses
DistributedDataParallel with no code change. On CPU, training is seeded and
bit-reproducible, and `resume` continues exactly where the last epoch ended.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from facedepth.data import Augment, DepthSplit
from facedepth.depthnorm import denormalize
from facedepth.losses import HybridLoss
from facedepth.models import build


@dataclass(frozen=True)
class TrainConfig:
    model: str
    epochs: int = 5
    batch_size: int = 8
    lr: float = 1e-4
    lr_schedule: str = "cosine"  # cosine | step | constant
    lr_step: int = 10
    lr_gamma: float = 0.1
    weight_decay: float = 0.0
    near_m: float = 0.15
    far_m: float = 3.0
    amp: bool = True  # only takes effect on CUDA
    pretrained: bool | str = False
    num_workers: int = 0
    seed: int = 0
    loss: dict = field(default_factory=lambda: {"w_ssim": 0.28, "w_l1": 0.22, "w_grad": 0.30, "w_normal": 0.20})
    augment: dict = field(default_factory=dict)
    model_cfg: dict = field(default_factory=dict)  # per model name: kwargs for models.build

    @classmethod
    def from_params(cls, data: dict, model: str) -> TrainConfig:
        section = dict(data.get("train") or {})
        section.pop("models", None)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(section) - known
        if unknown:
            raise ValueError(f"train: unknown key(s) {sorted(unknown)}; allowed: {sorted(known - {'model'})}")
        cfg = cls(model=model, seed=int(data.get("seed", 0)), **section)
        if cfg.lr_schedule not in ("cosine", "step", "constant"):
            raise ValueError(f"train.lr_schedule: {cfg.lr_schedule!r} is not one of cosine, step, constant")
        if not 0 < cfg.near_m < cfg.far_m:
            raise ValueError(f"train: need 0 < near_m < far_m, got {cfg.near_m}, {cfg.far_m}")
        return cfg

    def build_model(self) -> torch.nn.Module:
        return build(self.model, pretrained=self.pretrained, **self.model_cfg.get(self.model, {}))


def _scheduler(opt, cfg: TrainConfig):
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
    if cfg.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step, cfg.lr_gamma)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _e: 1.0)


def _save(path: Path, state: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, device="cpu") -> tuple[torch.nn.Module, TrainConfig, dict]:
    """Rebuild the model a checkpoint was trained with, weights loaded, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found; train first (`facedepth train --model NAME`)")
    state = torch.load(path, map_location=device, weights_only=False)
    cfg = TrainConfig(**{**state["config"], "pretrained": False})
    model = cfg.build_model().to(device)
    model.load_state_dict(state["model"])
    return model.eval(), cfg, state


class Distributed:
    """torchrun environment, or a single process."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available()
        self.device = torch.device(f"cuda:{local}" if cuda else "cpu")
        if self.world > 1 and not dist.is_initialized():
            if cuda:
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if cuda else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([value], device=self.device)
        dist.all_reduce(t)
        return t.item() / self.world


@torch.no_grad()
def validate(model, loader, loss_fn, cfg: TrainConfig, device) -> dict[str, float]:
    model.eval()
    losses, abs_rel = [], []
    for x, y, m, _ in loader:
        x, y, m = x.to(device), y.to(device), m.to(device)
        pred = model(x).float()
        losses.append(loss_fn(pred, y, m).item())
        p = denormalize(pred, cfg.near_m, cfg.far_m)[m]
        g = denormalize(y, cfg.near_m, cfg.far_m)[m]
        abs_rel.append(((p - g).abs() / g).mean().item())
    return {"val_loss": float(np.mean(losses)), "val_abs_rel": float(np.mean(abs_rel))}


def train(cfg: TrainConfig, prepared: Path, out_dir: Path, live_dir: Path, resume: bool = False,
          progress: Callable[[int, int], Callable[[int], None]] | None = None) -> dict:
    """Train `cfg.model`; writes out_dir/{last,best}.pt and dvclive logs; returns the final metrics."""
    env = Distributed()
    device = env.device
    torch.manual_seed(cfg.seed)
    model = cfg.build_model().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = _scheduler(opt, cfg)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start_epoch, step, best = 0, 0, math.inf
    last = out_dir / "last.pt"
    if resume and last.is_file():
        state = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start_epoch, step, best = state["epoch"] + 1, state["step"], state["best_abs_rel"]
    elif resume:
        raise FileNotFoundError(f"{last}: nothing to resume from; drop --resume to start fresh")
    ddp = torch.nn.parallel.DistributedDataParallel(model) if env.world > 1 else model
    train_ds = DepthSplit(prepared, "train", cfg.near_m, cfg.far_m, Augment(**cfg.augment), cfg.seed)
    val_ds = DepthSplit(prepared, "val", cfg.near_m, cfg.far_m)
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ValueError(f"{prepared}: train and val splits must not be empty (train {len(train_ds)}, val {len(val_ds)})")
    val_loader = DataLoader(val_ds, cfg.batch_size, num_workers=cfg.num_workers)
    loss_fn = HybridLoss(**cfg.loss)
    live = None
    if env.main:
        from dvclive import Live

        live = Live(str(live_dir), resume=resume, save_dvc_exp=False, dvcyaml=False)
        live.log_params({k: v for k, v in dataclasses.asdict(cfg).items() if not isinstance(v, dict)})
    metrics = {}
    for epoch in range(start_epoch, cfg.epochs):
        train_ds.set_epoch(epoch)
        if env.world > 1:
            sampler = DistributedSampler(train_ds, seed=cfg.seed, shuffle=True)
            sampler.set_epoch(epoch)
        else:
            sampler = torch.randperm(len(train_ds), generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch)).tolist()
        loader = DataLoader(train_ds, cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                            drop_last=len(train_ds) > cfg.batch_size, pin_memory=device.type == "cuda")
        advance = progress(epoch, len(loader) * cfg.batch_size) if progress and env.main else (lambda n: None)
        ddp.train()
        losses = []
        for x, y, m, _ in loader:
            x, y, m = x.to(device, non_blocking=True), y.to(device, non_blocking=True), m.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, enabled=use_amp):
                pred = ddp(x)
            loss = loss_fn(pred.float(), y, m)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            step += 1
            losses.append(loss.item())
            advance(len(x))
        sched.step()
        metrics = {"train_loss": env.mean(float(np.mean(losses))), **validate(model, val_loader, loss_fn, cfg, device),
                   "lr": opt.param_groups[0]["lr"], "epoch": epoch, "step": step}
        if env.main:
            improved = metrics["val_abs_rel"] < best
            best = min(best, metrics["val_abs_rel"])
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "scaler": scaler.state_dict(), "epoch": epoch, "step": step, "best_abs_rel": best,
                     "config": dataclasses.asdict(cfg), "input_size": list(train_ds.rgb.shape[1:3])}
            _save(last, state)
            if improved:
                _save(out_dir / "best.pt", state)
            live.step = epoch  # explicit: one dvclive step per epoch, also after --resume
            for k in ("train_loss", "val_loss", "val_abs_rel", "lr"):
                live.log_metric(k, metrics[k])
            live.make_summary()
    if live:
        live.end()
    return metrics
