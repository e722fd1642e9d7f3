"""Scaling study and recipe ablations: one model family trained at several data sizes, step counts and recipes.

A plan file (reference/scaling.yaml) names a params profile, the prepared frames to train on, the test
splits to score on, and the points. Each point is one training run: a fraction of the train identities
(nested subsets, pipeline.curve.subsets), a step count, and optional `train:` overrides merged over the
profile (one change at a time). Points are resumable and independent: a finished point's result file is
kept and skipped on a rerun, an interrupted one resumes from its last.pt. The report puts every point in
one table with its CPU time and draws the data and step axes.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import yaml  # noqa: E402

from fdcore.files import atomic_write_text  # noqa: E402
from pipeline.curve import PANELS  # noqa: E402

METRICS = tuple(p for p in PANELS if p[0] == "shape")  # Spearman and face relief, as the learning curve names them


@dataclasses.dataclass(frozen=True)
class Point:
    name: str
    model: str
    fraction: float
    steps: int
    train: dict  # overrides of the profile's train section
    note: str = ""
    checkpoint: str = ""  # score this finished run (trained elsewhere with the same settings) instead of training
    prepared: str = ""  # train on these prepared frames instead of the plan's (a larger render of the same people)
    tests: dict = dataclasses.field(default_factory=dict)  # test splits replacing the plan's of the same name


@dataclasses.dataclass(frozen=True)
class Plan:
    params: Path
    prepared: Path
    tests: dict[str, Path]
    points: tuple[Point, ...]


def read_plan(path: Path) -> Plan:
    """The plan file, checked before any training: paths are relative to the working directory."""
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict) or not {"params", "prepared", "tests", "points"} <= set(data):
        raise ValueError(f"{path}: a scaling plan needs params, prepared, tests and points")
    points, seen = [], set()
    for i, p in enumerate(data["points"]):
        where = f"{path}: points[{i}]"
        if not isinstance(p, dict) or "name" not in p or "model" not in p or "steps" not in p:
            raise ValueError(f"{where}: each point needs name, model and steps (fraction, train, note optional)")
        if p["name"] in seen:
            raise ValueError(f"{where}: point name {p['name']!r} used twice")
        seen.add(p["name"])
        fraction = float(p.get("fraction", 1.0))
        if not 0 < fraction <= 1 or int(p["steps"]) < 1:
            raise ValueError(f"{where}: fraction must lie in (0, 1] and steps be >= 1")
        points.append(
            Point(
                str(p["name"]),
                str(p["model"]),
                fraction,
                int(p["steps"]),
                dict(p.get("train") or {}),
                p.get("note", ""),
                str(p.get("checkpoint", "")),
                str(p.get("prepared", "")),
                dict(p.get("tests") or {}),
            )
        )
    return Plan(
        Path(data["params"]), Path(data["prepared"]), {k: Path(v) for k, v in data["tests"].items()}, tuple(points)
    )


def point_config(plan: Plan, point: Point):
    """The TrainConfig of one point: the profile, its train overrides, then the point's step count."""
    from facedepth.checkpoint import TrainConfig
    from generation.config import merge, read

    data = read(plan.params)
    train = merge(data.get("train") or {}, point.train)
    options = dict((train.get("model_cfg") or {}).get(point.model) or {})
    options["steps"] = point.steps  # a model_cfg schedule would otherwise override the point's steps
    train["model_cfg"] = {**(train.get("model_cfg") or {}), point.model: options}
    train["steps"] = point.steps
    return TrainConfig.from_params({**data, "train": train}, point.model)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_point(plan: Plan, point: Point, models: Path, out: Path, log=print) -> dict:
    """Train and score one point unless its result exists; returns the result."""
    from facedepth.checkpoint import read_state
    from facedepth.evaluate import evaluate
    from facedepth.splits import load_split
    from facedepth.train import train
    from pipeline.curve import subsets

    done = out / "points" / f"{point.name}.json"
    if done.is_file():
        return json.loads(done.read_text())
    cfg = point_config(plan, point)
    prepared = Path(point.prepared) if point.prepared else plan.prepared
    manifest = load_split(prepared, "train")["manifest"]
    rows = subsets(manifest, [point.fraction], cfg.seed)[0]
    folder = models / point.name
    resumed = (folder / "last.pt").is_file()
    if point.checkpoint:
        best = Path(point.checkpoint)
        state = read_state(best)
        if state["step"] != point.steps or state["config"]["model"] != point.model:
            raise ValueError(
                f"{best}: {state['config']['model']} at step {state['step']}, not this point's "
                f"{point.model} at {point.steps}; retrain it or fix the plan"
            )
        cpu_train, wall_train = float("nan"), float(state.get("train_seconds", float("nan")))
    else:
        log(f"{point.name}: {point.model}, {len(rows)} frames, {point.steps} steps{' (resuming)' if resumed else ''}")
        cpu0, wall0 = cpu_seconds(), time.time()
        train(cfg, prepared, folder, out / "live" / point.name, resume=resumed, train_rows=rows)
        cpu_train, wall_train = cpu_seconds() - cpu0, time.time() - wall0
        best = folder / "best.pt"
    result = {
        **dataclasses.asdict(point),
        "frames": len(rows),
        "identities": int(manifest.loc[rows, "identity_id"].nunique()),
        "cpu_hours": cpu_train / 3600,
        "wall_hours": wall_train / 3600,
        "resumed": resumed,
        "scores": {},
    }
    for test, prepared in {**plan.tests, **{k: Path(v) for k, v in point.tests.items()}}.items():
        summary, _, _ = evaluate(best, prepared, keep_predictions=0)
        result["scores"][test] = {f"{kind}.{key}": summary[kind][key] for kind, key, _ in METRICS} | {
            "scale_invariant.abs_rel": summary["scale_invariant"]["abs_rel"],
            "test_images": summary["test_images"],
            **{f"heads.{k}": v for k, v in summary.get("heads", {}).items() if k != "skipped"},
        }
    done.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(done, json.dumps(result, indent=1))
    return result


def run(plan: Plan, models: Path, out: Path, only: list[str] | None = None, log=print) -> list[dict]:
    """Every point of the plan (or those named in `only`), then the report over all finished points."""
    for point in plan.points:
        if only is None or point.name in only:
            r = run_point(plan, point, models, out, log)
            s = r["scores"][next(iter(plan.tests))]
            log(
                f"{point.name}: Spearman {s['shape.spearman']:.3f}, relief {s['shape.relief_mm']:.2f} mm, "
                f"{cpu_cell(r)} CPU h"
            )
    return write_report(plan, out)


def cpu_cell(r: dict) -> str:
    if r["checkpoint"]:
        return f"~{2 * r['wall_hours']:.2f} (2 cores x {r['wall_hours']:.2f} h wall of {r['checkpoint']})"
    return f"{r['cpu_hours']:.2f}{' (resumed: last part only)' if r['resumed'] else ''}"


def finished(plan: Plan, out: Path) -> list[dict]:
    files = [out / "points" / f"{p.name}.json" for p in plan.points]
    return [json.loads(f.read_text()) for f in files if f.is_file()]


def axes(results: list[dict], main: str) -> tuple[list[dict], list[dict]]:
    """(data axis, step axis): the main model with the profile's recipe, at the most common step count and at
    the data size with the most step counts (the larger on a tie) respectively."""
    plain = [r for r in results if r["model"] == main and not r["train"]]
    if not plain:
        return [], []
    steps = max({r["steps"] for r in plain}, key=lambda s: (sum(r["steps"] == s for r in plain), s))
    data = sorted((r for r in plain if r["steps"] == steps), key=lambda r: r["frames"])
    full = max({r["frames"] for r in plain}, key=lambda f: (len({r["steps"] for r in plain if r["frames"] == f}), f))
    by_steps = sorted((r for r in plain if r["frames"] == full), key=lambda r: r["steps"])
    return data, by_steps


def write_report(plan: Plan, out: Path) -> list[dict]:
    results = finished(plan, out)
    if not results:
        return results
    tests = list(plan.tests)
    main = plan.points[0].model
    data, by_steps = axes(results, main)
    fig, ax = plt.subplots(2, len(METRICS), figsize=(4.4 * len(METRICS), 6.4), squeeze=False)
    for row, (series, x_key, x_label) in enumerate(
        (
            (data, "frames", f"training frames ({data[0]['steps'] if data else '-'} steps)"),
            (by_steps, "steps", f"optimiser steps ({by_steps[0]['frames'] if by_steps else '-'} frames)"),
        )
    ):
        for col, (kind, key, title) in enumerate(METRICS):
            a = ax[row][col]
            for test, style in zip(tests, ("o-", "s--", "^:")):
                a.plot(
                    [r[x_key] for r in series],
                    [r["scores"][test][f"{kind}.{key}"] for r in series],
                    style,
                    label=f"{test} test",
                )
            a.set_xscale("log")
            a.set_xticks([r[x_key] for r in series], [f"{r[x_key]:,}" for r in series])
            a.minorticks_off()
            a.set_xlabel(x_label)
            a.set_title(f"{main}: {title}", fontsize=9)
            a.legend(fontsize=7)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "scaling.png", dpi=90)
    plt.close(fig)
    head = " | ".join(f"{t}: Spearman | {t}: relief (mm)" for t in tests)
    lines = [
        f"| point | model | frames | steps | change | {head} | CPU h |",
        "|---|---|---|---|---|" + "---|" * (2 * len(tests)) + "---|",
    ]
    for r in results:
        cells = " | ".join(
            f"{r['scores'][t]['shape.spearman']:.3f} | {r['scores'][t]['shape.relief_mm']:.2f}" for t in tests
        )
        change = ", ".join(f"{k}={v}" for k, v in r["train"].items()) or "-"
        lines.append(
            f"| {r['name']} | {r['model']} | {r['frames']} | {r['steps']} | {change} | {cells} | {cpu_cell(r)} |"
        )
    multi = [r for r in results if any(k.startswith("heads.") for k in r["scores"][tests[0]])]
    if multi:  # what the extra heads themselves learnt (on the first test split)
        lines += [
            "",
            f"Extra heads on the {tests[0]} test split: normals' mean angular error and share under 22.5 degrees, "
            "the matte's IoU (facedepth.evaluate.HeadScores).",
            "",
            "| point | normal mean (deg) | normal < 22.5 | matte IoU |",
            "|---|---|---|---|",
        ]
        for r in multi:
            h = r["scores"][tests[0]]
            cell = lambda k, f: format(h[k], f) if k in h else "-"  # noqa: E731
            lines.append(
                f"| {r['name']} | {cell('heads.normal.mean_deg', '.1f')} | {cell('heads.normal.under_22.5', '.1%')} "
                f"| {cell('heads.matte.iou', '.3f')} |"
            )
    note = (
        "Each test column scores on people the point never trained on: `default` is the default profile's test "
        "split (seed 0), `own` the held-out people of the frames the point trained on."
    )
    atomic_write_text(out / "scaling.md", "\n".join(lines) + f"\n\n{note}\n\n![scaling](scaling.png)\n")
    return results
