"""Training: Adam + LR schedule, hybrid loss, AMP on GPU, checkpoints, resume, dvclive.

Runs single-process by default; under `torchrun --nproc_per_node N` it uses
DistributedDataParallel with no code change. On CPU, training is seeded and
bit-reproducible, and `resume` continues exactly where the last epoch ended.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from facedepth.data import BACKGROUND, DepthSplit
from facedepth.depthnorm import DepthNorm
from facedepth.losses import HybridLoss
from facedepth.models import MODELS, build
from facedepth.models import options as options_of
from fdcore import schema
from fdcore.files import atomic_path


class TrainConfig(schema.TrainRun):
    """One model's training run (fields and defaults: fdcore.schema), with what it builds in torch."""

    @classmethod
    def from_params(cls, data: dict | schema.Params, model: str) -> TrainConfig:
        """The run of `model` under params (a mapping or parsed Params); model_cfg.MODEL may set its schedule."""
        params = data if isinstance(data, schema.Params) else schema.parse(data)  # ParamsError is a ValueError
        seed, t = params.seed, params.train
        run, options = schema.run_settings(t, model)
        settings = {f.name: getattr(run, f.name) for f in dataclasses.fields(schema.TrainSettings)}
        cfg = cls(**{**settings, "model_cfg": {model: options}, "model": model, "seed": seed})
        cfg.norm  # validates the depth encoding
        for name, opts in {model: {}, **t.model_cfg}.items():
            if name not in MODELS:
                raise ValueError(f"train.model_cfg.{name}: unknown model; choose from {list(MODELS)}")
            bad = set(opts or {}) - set(options_of(name)) - set(schema.SCHEDULE_KEYS)
            if bad:
                raise ValueError(f"train.model_cfg.{name}: unknown option(s) {sorted(bad)}; {name} takes "
                                 f"{options_of(name) or 'none (a published architecture)'} and {schema.SCHEDULE_KEYS}")
        return cfg

    @property
    def norm(self) -> DepthNorm:
        return DepthNorm(self.near_m, self.far_m, self.depth_norm, self.canonical_focal)

    def build_model(self) -> torch.nn.Module:
        options = {k: v for k, v in (self.model_cfg.get(self.model) or {}).items() if k not in schema.SCHEDULE_KEYS}
        return build(self.model, pretrained=self.pretrained, **options)


def warn_out_of_range(ds: DepthSplit, cfg: TrainConfig, sample: int = 500) -> float:
    """Warn (with counts) when person pixels lie outside [near_m, far_m]: training cannot see them."""
    rows = np.linspace(0, len(ds) - 1, min(sample, len(ds))).astype(int)
    depth, mask = np.asarray(ds.depth[rows]) * ds.scales[rows, None, None], np.asarray(ds.mask[rows])
    person = mask != BACKGROUND
    outside = person & ~((depth > cfg.near_m) & (depth < cfg.far_m))
    share = float(outside.sum() / max(person.sum(), 1))
    if outside.any():
        warnings.warn(f"{outside.sum()} of {person.sum()} person pixels ({share:.2%}) in {len(rows)} training frames lie "
                      f"outside train.near_m..far_m = {cfg.near_m}..{cfg.far_m} m (after the canonical-focal scaling, if any) and are left out of the loss; "
                      f"widen the range or narrow render.camera", stacklevel=2)
    return share


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """LR multiplier at `step`: linear warm-up from 1/100, then the schedule over the remaining steps."""
    if step < cfg.warmup_steps:
        return 0.01 + 0.99 * step / cfg.warmup_steps
    t = step - cfg.warmup_steps
    if cfg.lr_schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(t / max(cfg.steps - cfg.warmup_steps, 1), 1.0)))
    if cfg.lr_schedule == "step":
        return cfg.lr_gamma ** (t // cfg.lr_step)
    return 1.0


def _scheduler(opt, cfg: TrainConfig):
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, cfg))


def _save(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_state(path: Path, device="cpu") -> dict:
    """A checkpoint written by `train`, or a ValueError that names the file and what to pass instead."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found; train first (`facedepth train --model NAME`)")
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:  # truncated, zero bytes, not a torch file: torch raises many kinds
        raise ValueError(f"{path}: not a readable checkpoint ({exc.__class__.__name__}); pass a models/NAME/best.pt "
                         f"written by `facedepth train`, or retrain") from None
    if not isinstance(state, dict) or not {"config", "model", "step"} <= set(state):
        raise ValueError(f"{path}: not a facedepth checkpoint (no config/model/step); pass a models/NAME/best.pt "
                         f"written by `facedepth train`")
    return state


# what checkpoints written before a key existed were trained with
LEGACY = {"depth_norm": "log", "canonical_focal": 0.0}


def load_checkpoint(path: Path, device="cpu") -> tuple[torch.nn.Module, TrainConfig, dict]:
    """Rebuild the model a checkpoint was trained with, weights loaded, in eval mode."""
    state = read_state(path, device)
    try:
        cfg = schema.build(TrainConfig, {**LEGACY, **state["config"], "pretrained": False}, f"{path}: config")
        model = cfg.build_model().to(device)
        model.load_state_dict(state["model"])
    except (TypeError, RuntimeError, KeyError, schema.ParamsError) as exc:
        raise ValueError(f"{path}: checkpoint does not match this version's models ({exc.__class__.__name__}: "
                         f"{str(exc)[:200]}); retrain it with `facedepth train`") from None
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
    losses, abs_rel, si_abs_rel = [], [], []
    norm = cfg.norm
    for x, y, m, f, idx in loader:
        x, y, m, f = x.to(device), y.to(device), m.to(device), f.to(device)
        pred = model(x).float()
        losses.append(loss_fn(pred, y, m, f).item())
        scale = torch.as_tensor(loader.dataset.scales[idx.numpy()], dtype=pred.dtype, device=device).view(-1, 1, 1, 1)
        for p, g, valid in zip(norm.decode(pred, scale), norm.decode(y, scale), m):
            p, g = p[valid], g[valid]
            if g.numel():
                abs_rel.append(((p - g).abs() / g).mean().item())
                p = p * (g.median() / p.median())
                si_abs_rel.append(((p - g).abs() / g).mean().item())
    return {"val_loss": float(np.mean(losses)), "val_abs_rel": float(np.mean(abs_rel)),
            "val_si_abs_rel": float(np.mean(si_abs_rel))}


@dataclass
class Run:
    """What one training run holds between steps."""

    cfg: TrainConfig
    env: Distributed
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    step: int = 0
    best: float = math.inf

    @property
    def amp(self) -> bool:
        return self.cfg.amp and self.env.device.type == "cuda"

    def state(self, epoch: int, input_size: list[int]) -> dict:
        """A self-describing checkpoint: weights, optimiser, schedule, scaler, position and the full config."""
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "scaler": self.scaler.state_dict(), "epoch": epoch, "step": self.step, "best_si_abs_rel": self.best,
                "config": dataclasses.asdict(self.cfg), "input_size": input_size}


def _start(cfg: TrainConfig, out_dir: Path, resume: bool) -> Run:
    """A fresh run, or the one in out_dir/last.pt restored exactly (weights, optimiser, schedule, step)."""
    env = Distributed()
    torch.manual_seed(cfg.seed)
    model = cfg.build_model().to(env.device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and env.device.type == "cuda")
    run = Run(cfg, env, model, opt, _scheduler(opt, cfg), scaler)
    last = out_dir / "last.pt"
    if resume and last.is_file():
        state = read_state(last, env.device)
        if state["config"].get("model") != cfg.model:
            raise ValueError(f"{last}: a {state['config'].get('model')} checkpoint cannot resume {cfg.model}; "
                             f"pass --out of a {cfg.model} run or drop --resume")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        run.sched.load_state_dict(state["scheduler"])
        run.scaler.load_state_dict(state["scaler"])
        run.step, run.best = state["step"], state["best_si_abs_rel"]
    elif resume:
        raise FileNotFoundError(f"{last}: nothing to resume from; drop --resume to start fresh")
    return run


def _epoch_loader(run: Run, train_ds: DepthSplit, epoch: int, drop_last: bool) -> DataLoader:
    """The epoch's batches in a seeded order, the same whatever the worker count (or DistributedSampler)."""
    cfg, env = run.cfg, run.env
    train_ds.set_epoch(epoch)
    if env.world > 1:
        sampler = DistributedSampler(train_ds, seed=cfg.seed, shuffle=True)
        sampler.set_epoch(epoch)
    else:
        sampler = torch.randperm(len(train_ds), generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch)).tolist()
    return DataLoader(train_ds, cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                      drop_last=drop_last, pin_memory=env.device.type == "cuda")


def _step(run: Run, ddp, loss_fn, batch) -> float:
    """One optimiser step (AMP on CUDA); returns the loss."""
    device = run.env.device
    x, y, m, f = (t.to(device, non_blocking=True) for t in batch[:4])
    run.opt.zero_grad(set_to_none=True)
    with torch.autocast(device.type, enabled=run.amp):
        pred = ddp(x)
    loss = loss_fn(pred.float(), y, m, f)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.opt)
    run.scaler.update()
    run.sched.step()
    run.step += 1
    return loss.item()


def _checkpoint_and_log(run: Run, metrics: dict, epoch: int, input_size: list[int], out_dir: Path, live) -> None:
    """last.pt always, best.pt when validation SI AbsRel improved (shape, not the weakly observable scale); dvclive."""
    improved = metrics["val_si_abs_rel"] < run.best
    run.best = min(run.best, metrics["val_si_abs_rel"])
    state = run.state(epoch, input_size)
    _save(out_dir / "last.pt", state)
    if improved:
        _save(out_dir / "best.pt", state)
    live.step = run.step  # one dvclive point per validation, also after --resume
    for k in ("train_loss", "val_loss", "val_abs_rel", "val_si_abs_rel", "lr"):
        live.log_metric(k, metrics[k])
    live.make_summary()


def train(cfg: TrainConfig, prepared: Path, out_dir: Path, live_dir: Path, resume: bool = False,
          progress: Callable[[int, int], Callable[[int], None]] | None = None,
          train_rows: list[int] | None = None) -> dict:
    """Train `cfg.model` for cfg.steps optimiser steps; writes out_dir/{last,best}.pt and dvclive logs.

    `progress(done, total)` is called once with the step counts and returns advance(steps);
    `train_rows` trains on those rows of the train split only.
    Returns the metrics of the last validation.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = _start(cfg, out_dir, resume)
    env = run.env
    ddp = torch.nn.parallel.DistributedDataParallel(run.model) if env.world > 1 else run.model
    train_ds = DepthSplit(prepared, "train", cfg.norm, cfg.augment, cfg.seed, train_rows)
    val_ds = DepthSplit(prepared, "val", cfg.norm)
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ValueError(f"{prepared}: train and val splits must not be empty (train {len(train_ds)}, val {len(val_ds)})")
    if env.main:
        warn_out_of_range(train_ds, cfg)
    val_loader = DataLoader(val_ds, cfg.batch_size, num_workers=cfg.num_workers)
    loss_fn = HybridLoss(cfg.loss)
    live = None
    if env.main:
        from dvclive import Live

        live = Live(str(live_dir), resume=resume, save_dvc_exp=False, dvcyaml=False)
        live.log_params({k: v for k, v in dataclasses.asdict(cfg).items() if not isinstance(v, dict)})
    metrics = {}
    samples = len(DistributedSampler(train_ds, env.world, env.rank)) if env.world > 1 else len(train_ds)
    drop_last = samples > cfg.batch_size  # a split smaller than one batch still trains
    per_epoch = samples // cfg.batch_size if drop_last else 1
    advance = progress(run.step, cfg.steps) if progress and env.main else (lambda n: None)
    input_size = list(train_ds.rgb.shape[1:3])
    losses = []
    while run.step < cfg.steps:
        epoch, skip = divmod(run.step, per_epoch)  # resume mid-epoch exactly: same order, batches already seen skipped
        ddp.train()
        for batch in itertools.islice(_epoch_loader(run, train_ds, epoch, drop_last), skip, per_epoch):
            losses.append(_step(run, ddp, loss_fn, batch))
            advance(1)
            if run.step % cfg.val_every and run.step < cfg.steps:
                continue
            metrics = {"train_loss": env.mean(float(np.mean(losses))),
                       **validate(run.model, val_loader, loss_fn, cfg, env.device),
                       "lr": run.opt.param_groups[0]["lr"], "epoch": epoch, "step": run.step}
            losses = []
            ddp.train()
            if env.main:
                _checkpoint_and_log(run, metrics, epoch, input_size, out_dir, live)
            if run.step >= cfg.steps:
                break
    if live:
        live.end()
    return metrics
