"""Training: Adam + LR schedule, hybrid loss, AMP on GPU, checkpoints, resume, dvclive.

Runs single-process by default; under `torchrun --nproc_per_node N` it uses
DistributedDataParallel with no code change. On CPU, training is seeded and
bit-reproducible, and `resume` continues exactly where the last epoch ended.
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from facedepth.checkpoint import TrainConfig, read_state, weights_only
from facedepth.data import BACKGROUND, DepthSplit
from facedepth.losses import HybridLoss
from facedepth.memory import check_batch_fits
from fdcore import schema
from fdcore.files import atomic_path


def warn_out_of_range(ds: DepthSplit, cfg: TrainConfig, sample: int = 500) -> float:
    """Warn (with counts) when person pixels lie outside [near_m, far_m]: training cannot see them."""
    rows = np.linspace(0, len(ds) - 1, min(sample, len(ds))).astype(int)
    depth, mask = np.asarray(ds.depth[rows]) * ds.scales[rows, None, None], np.asarray(ds.mask[rows])
    person = mask != BACKGROUND
    outside = person & ~((depth > cfg.near_m) & (depth < cfg.far_m))
    share = float(outside.sum() / max(person.sum(), 1))
    if outside.any():
        warnings.warn(
            f"{outside.sum()} of {person.sum()} person pixels ({share:.2%}) in {len(rows)} training frames lie "
            f"outside train.near_m..far_m = {cfg.near_m}..{cfg.far_m} m (after the canonical-focal scaling, if any) "
            f"and are left out of the loss; "
            f"widen the range or narrow render.camera",
            stacklevel=2,
        )
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
    """torch.save, atomically; its failures (a full disk is a RuntimeError inside torch) become an OSError
    naming the file, and the previous checkpoint stays."""
    try:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    except RuntimeError as exc:
        raise OSError(
            errno.EIO, f"checkpoint not written ({str(exc).splitlines()[0]}); is the disk full?", str(path)
        ) from None


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
def validation_scores(model, loader, loss_fn, cfg: TrainConfig, device) -> dict[str, float]:
    model.eval()
    losses, abs_rel, si_abs_rel = [], [], []
    norm = cfg.norm
    for x, y, m, f, idx, *extra in loader:
        x, y, m, f = x.to(device), y.to(device), m.to(device), f.to(device)
        if extra:  # a multi-task model: its heads' losses count in val_loss too
            out = model(x, every=True)
            targets = {k: v.to(device) for k, v in extra[0].items()}
            losses.append(loss_fn({k: v.float() for k, v in out.items()}, y, m, f, targets).item())
            pred = out["depth"].float()
        else:
            pred = model(x).float()
            losses.append(loss_fn(pred, y, m, f).item())
        scale = torch.as_tensor(loader.dataset.scales[idx.numpy()], dtype=pred.dtype, device=device).view(-1, 1, 1, 1)
        for p, g, valid in zip(norm.decode(pred, scale), norm.decode(y, scale), m):
            p, g = p[valid], g[valid]
            if g.numel():
                abs_rel.append(((p - g).abs() / g).mean().item())
                p = p * (g.median() / p.median())
                si_abs_rel.append(((p - g).abs() / g).mean().item())
    return {
        "val_loss": float(np.mean(losses)),
        "val_abs_rel": float(np.mean(abs_rel)),
        "val_si_abs_rel": float(np.mean(si_abs_rel)),
    }


@dataclass
class Run:
    """What one training run holds between steps."""

    cfg: TrainConfig
    env: Distributed
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    ema: torch.optim.swa_utils.AveragedModel | None = None
    step: int = 0
    best: float = math.inf
    seconds: float = 0.0  # wall time spent training, summed over resumes (the model card's compute)
    since: float = 0.0

    @property
    def evaluated(self) -> torch.nn.Module:
        """The weights validation scores and checkpoints ship: the moving average when train.ema is on."""
        return self.ema.module if self.ema is not None else self.model

    @property
    def amp(self) -> bool:
        return self.cfg.amp and self.env.device.type == "cuda"

    def state(self, epoch: int, input_size: list[int]) -> dict:
        """A self-describing checkpoint: weights, optimiser, schedule, scaler, position and the full config."""
        state = {
            "model": self.evaluated.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "step": self.step,
            "best_si_abs_rel": self.best,
            "config": dataclasses.asdict(self.cfg),
            "input_size": input_size,
            "train_seconds": self.seconds + time.monotonic() - self.since,
            "device": str(self.env.device),
        }
        if self.ema is not None:  # resume needs the raw weights too; inference gets the average as "model"
            state["raw_model"] = self.model.state_dict()
            state["ema_count"] = int(self.ema.n_averaged.item())
        return state


def _changed(saved: dict, cfg: TrainConfig) -> list[str]:
    """The settings a resumed run would change: its schedule and recorded config would no longer be one run's."""
    now = dataclasses.asdict(cfg)
    try:  # settings added since the checkpoint was written read as their defaults, not as changes
        saved = dataclasses.asdict(schema.build(TrainConfig, saved, "checkpoint config"))
    except ValueError:
        pass
    return sorted(k for k in now if k in saved and saved[k] != now[k])


def ema_decay(decay: float, warmup: bool, updates: int) -> float:
    """The decay of the weights' moving average after `updates` updates. Without warm-up a run of N steps
    keeps decay^N of its first weights (13% at 0.999 and 2,000 steps: measured in the scaling study);
    with it the decay grows as (1 + n) / (10 + n) up to `decay`, as TensorFlow's moving averages do."""
    return min(decay, (1 + updates) / (10 + updates)) if warmup else decay


def ema_update(decay: float, warmup: bool):
    """AveragedModel's multi_avg_fn for ema_decay."""

    @torch.no_grad()
    def update(ema_params, params, n_averaged) -> None:
        d = ema_decay(decay, warmup, int(n_averaged))
        if torch.is_floating_point(ema_params[0]):
            torch._foreach_lerp_(ema_params, params, 1 - d)
        else:  # integer buffers (batch-norm counters), grouped apart by AveragedModel
            for e, p in zip(ema_params, params):
                e.copy_(e * d + p * (1 - d))

    return update


def _start(cfg: TrainConfig, out_dir: Path, resume: bool, allow_changed: bool = False) -> Run:
    """A fresh run, or the one in out_dir/last.pt restored exactly (weights, optimiser, schedule, step)."""
    env = Distributed()
    torch.manual_seed(cfg.seed)
    model = cfg.build_model().to(env.device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and env.device.type == "cuda")
    ema = None
    if cfg.ema:
        from torch.optim.swa_utils import AveragedModel

        ema = AveragedModel(model, multi_avg_fn=ema_update(cfg.ema, cfg.ema_warmup), use_buffers=True)
    run = Run(cfg, env, model, opt, _scheduler(opt, cfg), scaler, ema)
    last = out_dir / "last.pt"
    if resume and last.is_file():
        state = read_state(last, env.device)
        if state["config"].get("model") != cfg.model:
            raise ValueError(
                f"{last}: a {state['config'].get('model')} checkpoint cannot resume {cfg.model}; "
                f"pass --out of a {cfg.model} run or drop --resume"
            )
        changed = _changed(state["config"], cfg)
        if changed and not allow_changed:
            raise ValueError(
                f"{last}: this run was trained with other settings ({', '.join(changed)}); resume with the params "
                f"it started with, or pass --resume-changed to continue under the new ones (the checkpoint then "
                f"records the new settings)"
            )
        model.load_state_dict(state.get("raw_model", state["model"]))
        if ema is not None:
            ema.module.load_state_dict(state["model"])
            ema.n_averaged.fill_(state.get("ema_count", 0))
        opt.load_state_dict(state["optimizer"])
        run.sched.load_state_dict(state["scheduler"])
        run.scaler.load_state_dict(state["scaler"])
        run.step, run.best = state["step"], state["best_si_abs_rel"]
        run.seconds = float(state.get("train_seconds", 0.0))
    elif resume:
        raise FileNotFoundError(f"{last}: nothing to resume from; drop --resume to start fresh")
    elif cfg.init:  # fine-tuning: the weights of another run of the same model, then this run's schedule
        state = read_state(Path(cfg.init), env.device)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise ValueError(
                f"train.init {cfg.init}: its weights do not fit {cfg.model} with these options "
                f"({str(exc).splitlines()[0][:120]}); start from a checkpoint of the same model"
            ) from None
        if ema is not None:
            ema.module.load_state_dict(state["model"])
    run.since = time.monotonic()
    return run


def _epoch_loader(run: Run, train_ds: DepthSplit, epoch: int, drop_last: bool) -> DataLoader:
    """The epoch's batches in a seeded order, the same whatever the worker count (or DistributedSampler)."""
    cfg, env = run.cfg, run.env
    train_ds.set_epoch(epoch)
    if env.world > 1:
        sampler = DistributedSampler(train_ds, seed=cfg.seed, shuffle=True)
        sampler.set_epoch(epoch)
    else:
        sampler = torch.randperm(
            len(train_ds), generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
        ).tolist()
    return DataLoader(
        train_ds,
        cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.num_workers,
        drop_last=drop_last,
        pin_memory=env.device.type == "cuda",
    )


def _step(run: Run, ddp, loss_fn, batch) -> float:
    """One optimiser step (AMP on CUDA); returns the loss."""
    device = run.env.device
    x, y, m, f = (t.to(device, non_blocking=True) for t in batch[:4])
    run.opt.zero_grad(set_to_none=True)
    with torch.autocast(device.type, enabled=run.amp):
        pred = ddp(x, every=True) if len(batch) > 5 else ddp(x)
    if isinstance(pred, dict):  # a multi-task model: depth plus its heads, each against its target
        targets = {k: v.to(device, non_blocking=True) for k, v in batch[5].items()}
        loss = loss_fn({k: v.float() for k, v in pred.items()}, y, m, f, targets)
    else:
        loss = loss_fn(pred.float(), y, m, f)
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"training loss became {loss.item()} at step {run.step + 1} of {run.cfg.model}: "
            f"the run diverged (train.lr {run.cfg.lr:g} may be too high); lower train.lr or check "
            f"train.loss. last.pt/best.pt keep the last good state"
        )
    run.scaler.scale(loss).backward()
    run.scaler.step(run.opt)
    run.scaler.update()
    run.sched.step()
    if run.ema is not None:
        run.ema.update_parameters(run.model)
    run.step += 1
    return loss.item()


def _checkpoint_and_log(run: Run, metrics: dict, epoch: int, input_size: list[int], out_dir: Path, live) -> None:
    """last.pt always, best.pt when validation SI AbsRel improved (shape, not the weakly observable scale); dvclive."""
    improved = metrics["val_si_abs_rel"] < run.best
    run.best = min(run.best, metrics["val_si_abs_rel"])
    state = run.state(epoch, input_size)
    _save(out_dir / "last.pt", state)
    if improved:
        _save(out_dir / "best.pt", weights_only(state))
    live.step = run.step  # one dvclive point per validation, also after --resume (train_loss: every log_every)
    for k in ("val_loss", "val_abs_rel", "val_si_abs_rel", "lr"):
        live.log_metric(k, metrics[k])
    live.make_summary()


def train(
    cfg: TrainConfig,
    prepared: Path,
    out_dir: Path,
    live_dir: Path,
    resume: bool = False,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
    train_rows: list[int] | None = None,
    allow_changed: bool = False,
) -> dict:
    """Train `cfg.model` for cfg.steps optimiser steps; writes out_dir/{last,best}.pt and dvclive logs.

    `progress(done, total)` is called once with the step counts and returns advance(steps);
    `train_rows` trains on those rows of the train split only; `allow_changed` resumes a run whose settings
    differ from the checkpoint's (refused otherwise).
    Returns the metrics of the last validation.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = _start(cfg, out_dir, resume, allow_changed)
    env = run.env
    ddp = torch.nn.parallel.DistributedDataParallel(run.model) if env.world > 1 else run.model
    train_ds = DepthSplit(prepared, "train", cfg.norm, cfg.augment, cfg.seed, train_rows, cfg.heads)
    val_ds = DepthSplit(prepared, "val", cfg.norm, heads=cfg.heads)
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ValueError(
            f"{prepared}: train and val splits must not be empty (train {len(train_ds)}, val {len(val_ds)})"
        )
    if env.main:
        warn_out_of_range(train_ds, cfg)
    val_loader = DataLoader(val_ds, cfg.batch_size, num_workers=cfg.num_workers)
    loss_fn = HybridLoss(cfg.loss)
    check_batch_fits(run.model, tuple(train_ds.rgb.shape[1:3]), cfg.batch_size, env.device)
    live = None
    if env.main:
        import sqlite3

        from dvclive import Live

        try:
            live = Live(str(live_dir), resume=resume, save_dvc_exp=False, dvcyaml=False)
        except sqlite3.OperationalError as exc:  # DVC's state database: a full disk surfaces here first
            raise OSError(
                errno.EIO, f"dvclive could not start its logs ({exc}); is the disk full?", str(live_dir)
            ) from None
        live.log_params({k: v for k, v in dataclasses.asdict(cfg).items() if not isinstance(v, dict)})
    metrics = {}
    samples = len(DistributedSampler(train_ds, env.world, env.rank)) if env.world > 1 else len(train_ds)
    drop_last = samples > cfg.batch_size  # a split smaller than one batch still trains
    per_epoch = samples // cfg.batch_size if drop_last else 1
    advance = progress(run.step, cfg.steps) if progress and env.main else (lambda n: None)
    input_size = list(train_ds.rgb.shape[1:3])
    losses, recent = [], []  # since the last validation; since the last loss point
    while run.step < cfg.steps:
        epoch, skip = divmod(run.step, per_epoch)  # resume mid-epoch exactly: same order, batches already seen skipped
        ddp.train()
        for batch in itertools.islice(_epoch_loader(run, train_ds, epoch, drop_last), skip, per_epoch):
            losses.append(_step(run, ddp, loss_fn, batch))
            recent.append(losses[-1])
            advance(1)
            if live and (run.step % cfg.log_every == 0 or run.step == cfg.steps):  # this process's batches
                live.step = run.step
                live.log_metric("train_loss", float(np.mean(recent)))
                recent = []
            if run.step % cfg.val_every and run.step < cfg.steps:
                continue
            metrics = {
                "train_loss": env.mean(float(np.mean(losses))),
                **validation_scores(run.evaluated, val_loader, loss_fn, cfg, env.device),
                "lr": run.opt.param_groups[0]["lr"],
                "epoch": epoch,
                "step": run.step,
            }
            losses = []
            ddp.train()
            if env.main:
                _checkpoint_and_log(run, metrics, epoch, input_size, out_dir, live)
            if run.step >= cfg.steps:
                break
    if live:
        live.end()
    return metrics
