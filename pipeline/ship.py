"""Ship a trained checkpoint as the package's reference model: weights only, with a model card beside it.

The card is written from the checkpoint and the evaluation files, never by hand, so every figure in it
comes from a run of the shipped weights: data, schedule, compute, test metrics beside the baselines.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from facedepth.baselines import NAMES
from fdcore.files import atomic_path, atomic_write_text
from fdcore.machine import cpu_name

MAX_MB = 25.0


def _row(name: str, m: dict) -> str:
    return (
        f"| {name} | {m['metric']['abs_rel']:.3f} | {m['scale_invariant']['abs_rel']:.4f} | "
        f"{m['shape']['relief_mm']:.2f} | {m['shape']['spearman']:.3f} |"
    )


def _same(a: dict, b: dict) -> bool:
    import torch

    return (
        a.keys() == b.keys()
        and a["config"] == b["config"]
        and a["model"].keys() == b["model"].keys()
        and all(torch.equal(a["model"][k], v) for k, v in b["model"].items())
    )


def ship(
    checkpoint: Path,
    out: Path,
    evals: dict[str, Path],
    baselines: Path | None,
    profile: str,
    data_summary: Path | None = None,
) -> Path:
    """Write `out` (weights and config only) and `out`.md (the model card); returns the card's path.

    `evals`: {test split description: folder of `facedepth evaluate` output}; `baselines`: folder of
    `facedepth baselines` output on the first of them.
    """
    import torch

    from facedepth.checkpoint import read_state, weights_only

    state = weights_only(read_state(checkpoint))
    out.parent.mkdir(parents=True, exist_ok=True)
    if not (out.is_file() and _same(read_state(out), state)):  # torch.save is not byte-stable: no churn in git
        with atomic_path(out) as tmp:
            torch.save(state, tmp)
    size_mb = out.stat().st_size / 2**20
    if size_mb > MAX_MB:
        raise ValueError(f"{out}: {size_mb:.1f} MB is over the {MAX_MB:g} MB the package ships; ship a smaller model")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    cfg = state["config"]
    n_params = sum(v.numel() for k, v in state["model"].items() if v.is_floating_point() and "running" not in k)
    hours = state.get("train_seconds", 0.0) / 3600
    lines = [
        f"# Model card: {out.name}",
        "",
        "The model `facedepth predict` and `facedepth.load()` use when no model is named.",
        "",
        "| | |",
        "|---|---|",
        f"| architecture | `{cfg['model']}` {cfg['model_cfg'].get(cfg['model']) or ''} "
        f"({n_params / 1e6:.2f} M parameters), "
        f"input {state['input_size'][1]}x{state['input_size'][0]} RGB, output half resolution |",
        f"| output | {cfg['depth_norm']} depth in [{cfg['near_m']}, {cfg['far_m']}] m at canonical focal "
        f"{cfg['canonical_focal']} x width (facedepth/depthnorm.py) |",
        f"| training data | synthetic renders of profile `{profile}` (seed {cfg['seed']}: other people than the "
        f"default profile's seed 0) |",
        f"| schedule | {_steps(state['step'], cfg['steps'])} of batch {cfg['batch_size']}, Adam lr {cfg['lr']:g} "
        f"{cfg['lr_schedule']}, EMA {cfg['ema']:g}, hybrid loss {cfg['loss']} |",
        f"| augmentation | {_augmentation(cfg.get('augment', {}))} |",
        *([f"| initialised from | {_base_run(cfg['init'])} |"] if cfg.get("init") else []),
        f"| compute | {hours:.2f} h wall on {state.get('device', 'cpu')} ({cpu_name()}, shared with other work)"
        f"{' for this stage' if cfg.get('init') else ''} |",
        f"| file | {size_mb:.1f} MB, weights and config only (loads with `torch.load(weights_only=True)`) |",
        f"| SHA-256 | `{digest}` |",
        "| licence | MIT, as the code; trained only on renders of CC0 assets |",
        "",
    ]
    if data_summary and data_summary.is_file():
        d = json.loads(data_summary.read_text())
        frames, people = d.get("frames", {}), d.get("identities", {})
        lines += [
            "Data (frames / people): "
            + ", ".join(f"{s} {frames.get(s)} / {people.get(s)}" for s in frames)
            + f" ({data_summary.parent}).",
            "",
        ]
    for i, (split, folder) in enumerate(evals.items()):
        lines += [
            f"## Test: {split}",
            "",
            "Head pixels; relief: mean |error| in mm on face skin after removing "
            "each map's median; Spearman: rank correlation on head pixels.",
            "",
            "| model | AbsRel (m) | SI AbsRel | relief (mm) | Spearman |",
            "|---|---|---|---|---|",
            _row("**reference**", json.loads((Path(folder) / "metrics.json").read_text())),
        ]
        if i == 0 and baselines is not None:
            for b in NAMES:
                f = Path(baselines) / b / "metrics.json"
                if f.is_file():
                    lines.append(_row(f"{b} (baseline)", json.loads(f.read_text())))
        lines.append("")
    card = out.with_suffix(".md")
    atomic_write_text(card, "\n".join(lines))
    return card


def _steps(step: int, planned: int) -> str:
    """The weights' optimiser steps; those of a run whose best validation came before its schedule's end say so."""
    return f"{step} optimiser steps" if step >= planned else f"{step} of {planned} optimiser steps (best validation)"


def _base_run(init: str) -> str:
    """What a fine-tuned model started from: the file, its own steps and compute when it is at hand, and what
    it started from in turn."""
    return f"{_lineage(init)}, then this schedule fine-tunes its weights"


def _lineage(init: str, depth: int = 0) -> str:
    from facedepth.checkpoint import read_state

    if not Path(init).is_file() or depth > 5:
        return f"`{init}`"
    base = read_state(Path(init))
    hours = base.get("train_seconds", 0.0) / 3600
    text = f"`{init}` ({base['step']} steps, {hours:.2f} h)"
    parent = base["config"].get("init")
    return f"{text}, itself from {_lineage(parent, depth + 1)}" if parent else text


def _augmentation(aug: dict) -> str:
    """The augmentation's switched-on effects, p_* > 0 (full settings: the config inside the file)."""
    on = [f"{k[2:]} {v:g}" for k, v in aug.items() if k.startswith("p_") and v]
    return f"flip {aug.get('flip', 0):g}, " + ", ".join(on) if on else "none"


def ship_locator(checkpoint: Path, out: Path) -> None:
    """The locator's weights-only file (kind, weights, config, step, validation scores); unchanged weights
    leave the file as it is."""
    import torch

    from facedepth.checkpoint import read_state

    state = read_state(checkpoint, kind="locator")
    state = {k: state[k] for k in ("kind", "model", "config", "step", "val") if k in state}
    if out.is_file() and _same(read_state(out, kind="locator"), state):
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.save(state, tmp)
