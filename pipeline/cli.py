"""The `facedepth` command line: every DVC stage is one of these commands."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Synthetic face depth: render, prepare, train, evaluate, predict."
)


def _version(value: bool) -> None:
    if value:
        from facedepth import __version__

        typer.echo(f"facedepth {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Synthetic face depth: render, prepare, train, evaluate, predict."""


ModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        help="the shipped reference model (default), a checkpoint file, a folder holding best.pt, "
        "or a trained model's name (models/NAME/best.pt)",
    ),
]


def _check_device(device: str | None) -> None:
    """The device is checked before the model is looked up, so a typo is named first."""
    from facedepth.predict import check_device

    try:
        check_device(device)
    except ValueError as exc:
        fail(str(exc))


def _checkpoint(model: str | None) -> Path:
    """--model resolved to a checkpoint file, the same way for every command."""
    from facedepth.checkpoint import resolve

    try:
        return resolve(model)
    except FileNotFoundError as exc:
        fail(str(exc))


ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="params.yaml to read")]
ForceOpt = Annotated[bool, typer.Option(help="replace outputs a DVC stage owns (run by hand, not by dvc repro)")]


def _not_tracked(force: bool, **paths: Path | None) -> None:
    """Stop before work when a by-hand run would replace a DVC stage's output (pipeline/guard.py)."""
    from pipeline.guard import refuse_tracked

    error = refuse_tracked({f"--{k.replace('_', '-')}": v for k, v in paths.items()}, force)
    if error:
        fail(error)


def fail(message: str) -> None:
    """Print the error and exit 2. SystemExit, not typer.Exit: click's Exit is a RuntimeError, which an
    enclosing `except RuntimeError` would catch and report again as a stray `error: 2`."""
    typer.secho(f"error: {message}", fg="red", err=True)
    raise SystemExit(2)


FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # no space, over quota, over the file-size limit


def fail_unwritable(exc: OSError, option: str) -> None:
    """An output that cannot be created: unwritable, a full disk, or a file where a folder should go."""
    where = exc.filename or "the output"
    if exc.errno in FULL:
        fail(f"{where}: out of disk space ({exc.strerror}); free space there or choose another {option}")
    fail(f"{where}: cannot write there ({exc.strerror or exc}); choose a writable {option}")


def _params(path: Path):
    """Every section of a params file, typed (fdcore.schema): a bad key anywhere stops any stage before work."""
    from generation.config import ParamsError, load_all

    try:
        return load_all(path)
    except ParamsError as exc:
        fail(str(exc))


@app.command()
def render(
    out: Annotated[Path, typer.Option(help="root folder of the render shards")] = Path("data/renders"),
    params: ParamsOpt = Path("params.yaml"),
    shard: Annotated[Optional[list[int]], typer.Option(help="render only these shard numbers (repeatable)")] = None,
    workers: Annotated[
        Optional[int], typer.Option(help="local worker processes (default: render.workers; 0 = one per 4 cores)")
    ] = None,
    ray: Annotated[Optional[str], typer.Option(help="render on Ray: 'auto', 'local' or a cluster address")] = None,
    preview: Annotated[Optional[Path], typer.Option(help="also save a 16-frame contact sheet PNG here")] = None,
    landmarks: Annotated[bool, typer.Option(help="draw the 68 landmarks on the contact sheet")] = False,
    parts: Annotated[bool, typer.Option(help="add each frame's face parts to the contact sheet")] = False,
):
    """Render the dataset described by params.yaml (resumable; finished frames are kept)."""
    from generation import config, jobs
    from generation.assets import AssetError, mpfb_root
    from pipeline.progress import bar

    try:
        p = config.load(params)
        mpfb_root()
    except (config.ParamsError, AssetError) as exc:
        fail(str(exc))
    from generation.shard import StaleRenders, claim_root

    try:
        claim_root(p, out)
    except StaleRenders as exc:
        fail(str(exc))
    except OSError as exc:
        fail_unwritable(exc, "--out")
    shards = p.shards()
    if shard:
        bad = [s for s in shard if not 0 <= s < len(shards)]
        if bad:
            fail(f"--shard {bad}: the dataset has shards 0..{len(shards) - 1}")
        shards = [shards[s] for s in shard]
    todo = jobs.pending_frames(p, out, shards)
    typer.echo(f"{p.frames} frames in {len(p.shards())} shards; {todo} to render into {out}", err=True)
    try:
        with bar("render", todo, "frames") as advance:
            jobs.run(
                p,
                out,
                shards,
                p.workers if workers is None else workers,
                lambda _i: advance(),
                ray_address=None if ray is None else ("" if ray == "local" else ray),
            )
    except (AssetError, RuntimeError) as exc:
        fail(f"render stopped: {exc}\nfinished frames are kept; rerun the same command to resume")
    if preview:
        from pipeline.preview import contact_sheet

        typer.echo(f"contact sheet: {contact_sheet(out, preview, landmarks=landmarks, parts=parts)}", err=True)


@app.command()
def rerender(
    frame: Annotated[Path, typer.Argument(help="a frame's JSON (shard_*/fNNNNNNN.json) written by `render`")],
    out: Annotated[Path, typer.Option(help="folder for the frame's files")] = Path("rerendered"),
    samples: Annotated[Optional[int], typer.Option(help="samples per pixel (default: the frame's own)")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or optix")] = "cpu",
):
    """Render one frame again from the description in its JSON: the same scene, to the same files."""
    from generation.shard import rerender as run

    if samples is not None and samples < 1:
        fail(f"--samples {samples}: need at least 1")
    try:
        files = run(frame, out, samples, device)
    except (ValueError, FileExistsError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail_unwritable(exc, "--out")
    typer.echo(f"wrote {', '.join(sorted(p.name for p in files.values()))} to {out}", err=True)


@app.command()
def prepare(
    renders: Annotated[Path, typer.Option(help="render root written by `facedepth render`")] = Path("data/renders"),
    out: Annotated[Path, typer.Option(help="prepared splits folder")] = Path("data/prepared"),
    reports: Annotated[Path, typer.Option(help="folder for dataset statistics")] = Path("reports/dataset"),
    params: ParamsOpt = Path("params.yaml"),
    force: ForceOpt = False,
):
    """Validate renders, split by identity, resize, and write memory-mappable arrays."""
    from rich.console import Console
    from rich.table import Table

    from generation.layout import META_GLOB
    from pipeline import stats
    from pipeline.prepare import prepare as run_prepare
    from pipeline.progress import bar

    p = _params(params).prepare
    _not_tracked(force, out=out, reports=reports)
    total = len(list(renders.glob(META_GLOB)))
    if not total:
        fail(f"{renders}: no rendered frames; run `facedepth render --out {renders}` first")
    with bar("validate", total, "frames") as advance:
        try:
            table, rejected = run_prepare(renders, out, p, advance)
        except (RuntimeError, ValueError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail_unwritable(exc, "--out")
    console = Console(stderr=True)
    if len(rejected):
        t = Table("frame", "shard", "reason", title=f"{len(rejected)} rejected frames (also in {out}/rejected.csv)")
        for row in rejected.itertuples():
            t.add_row(row.frame, row.shard, row.reason)
        console.print(t)
    summary = stats.dataset_figure(out, reports / "stats.png", reports / "summary.json", rejected)
    console.print(f"kept {len(table)} frames: {summary['frames']} over identities {summary['identities']}")


@app.command()
def train(
    model: Annotated[
        str,
        typer.Option(
            help="a registered model: facedepth, unet_simple, bts, densedepth (published) or their _lite variants"
        ),
    ],
    prepared: Annotated[Path, typer.Option(help="prepared splits")] = Path("data/prepared"),
    out: Annotated[Optional[Path], typer.Option(help="checkpoint folder (default models/MODEL)")] = None,
    live: Annotated[Optional[Path], typer.Option(help="dvclive folder (default reports/train/MODEL)")] = None,
    resume: Annotated[bool, typer.Option(help="continue from OUT/last.pt")] = False,
    resume_changed: Annotated[
        bool, typer.Option(help="with --resume: continue although the params changed since the run started")
    ] = False,
    params: ParamsOpt = Path("params.yaml"),
    force: ForceOpt = False,
):
    """Train one model on the prepared splits (torchrun-compatible for several GPUs)."""
    from facedepth.train import TrainConfig
    from facedepth.train import train as run_train
    from pipeline.progress import bar

    try:
        cfg = TrainConfig.from_params(_params(params), model)
        cfg.build_model()  # fail on a bad model name or encoder before touching data
    except (ValueError, TypeError, RuntimeError, FileNotFoundError) as exc:
        fail(str(exc))
    out = out or Path("models") / cfg.model
    live = live or Path("reports/train") / cfg.model
    if os.environ.get("RANK", "0") == "0":
        _not_tracked(force, out=out, live=live)
    bars = contextlib.ExitStack()

    def progress(done: int, total: int):
        return bars.enter_context(bar(f"{cfg.model} steps", total - done, "steps"))

    with bars:
        try:
            metrics = run_train(
                cfg,
                prepared,
                out,
                live,
                resume=resume or resume_changed,
                progress=progress,
                allow_changed=resume_changed,
            )
        except (FileNotFoundError, ValueError, MemoryError) as exc:
            fail(str(exc))
        except OSError as exc:
            fail_unwritable(exc, "--out / --live")
    if os.environ.get("RANK", "0") == "0":
        typer.echo(f"{cfg.model}: {metrics}", err=True)


def _echo_eval(summary: dict) -> None:
    m, s, f = summary["metric"], summary["scale_invariant"], summary["shape"]
    typer.echo(
        f"{summary['model']}: abs_rel {m['abs_rel']:.4f} (scale-invariant {s['abs_rel']:.4f}), "
        f"face relief {f['relief_mm']:.2f} mm, Spearman {f['spearman']:.3f} "
        f"on {summary['test_images']} test images",
        err=True,
    )


@app.command()
def evaluate(
    model: ModelOpt = None,
    prepared: Annotated[Path, typer.Option(help="prepared splits")] = Path("data/prepared"),
    out: Annotated[
        Optional[Path],
        typer.Option(
            help="metrics folder (default reports/eval/NAME: the model's name, its checkpoint's folder, or `reference`)"
        ),
    ] = None,
    rgbd: Annotated[
        Optional[Path], typer.Option(help="a folder of your RGB-D captures to score instead (README)")
    ] = None,
    crop: Annotated[bool, typer.Option(help="with --rgbd: predict from face crops, as `predict` does")] = True,
    fx: Annotated[Optional[float], typer.Option(help="with --rgbd: focal length in pixels for every capture")] = None,
    fov: Annotated[Optional[float], typer.Option(help="with --rgbd: horizontal field of view in degrees")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda or cuda:N")] = None,
    unseen_by: Annotated[
        Optional[list[Path]],
        typer.Option(
            help="score only test people in no train/val split of this prepared folder (repeatable; same seed): "
            "for a model fine-tuned from one trained there"
        ),
    ] = None,
    force: ForceOpt = False,
):
    """Depth metrics on the test split's head pixels (metric, scale-invariant), face relief, by yaw bin.

    With --rgbd DIR: metric, median-scaled and scale-and-shift aligned metrics and Spearman on your own
    photo + depth captures, per image (CSV) and overall, with a figure.
    """
    from facedepth.evaluate import evaluate_to

    _check_device(device)
    ckpt = _checkpoint(model)
    label = (
        "reference"
        if model in (None, "reference")
        else model
        if "/" not in model and not model.endswith(".pt")
        else ckpt.parent.name
    )
    out = out or (Path("reports/rgbd") if rgbd is not None else Path("reports/eval")) / label
    _not_tracked(force, out=out)
    if rgbd is not None:
        _evaluate_rgbd(ckpt, rgbd, out, crop, fx, fov, device)
        return
    from pipeline.progress import bar

    bars = contextlib.ExitStack()
    try:
        with bars:
            summary, _ = evaluate_to(
                ckpt,
                prepared,
                out,
                lambda total: bars.enter_context(bar("evaluate", total, "images")),
                tuple(unseen_by or ()),
            )
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail_unwritable(exc, "--out")
    _echo_eval(summary)


def _evaluate_rgbd(ckpt: Path, folder: Path, out: Path, crop: bool, fx, fov, device) -> None:
    from pipeline.rgbd import CaptureError, evaluate_rgbd

    skipped = []

    def on_error(path, reason):
        skipped.append(path)
        typer.secho(f"skipped {path}: {reason}", fg="yellow", err=True)

    try:
        s = evaluate_rgbd(ckpt, folder, out, crop, fx, fov, device, on_error)
    except (FileNotFoundError, CaptureError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail_unwritable(exc, "--out")
    typer.echo(
        f"{s['captures']} captures: AbsRel metric {s['metric_abs_rel']:.4f}, median-scaled "
        f"{s['median_abs_rel']:.4f}, scale+shift aligned {s['aligned_abs_rel']:.4f}, Spearman {s['spearman']:.3f}; "
        f"wrote {out}/per_image.csv, metrics.json, figure.png; skipped {len(skipped)}",
        err=True,
    )
    if skipped:
        raise typer.Exit(1)


@app.command()
def baselines(
    prepared: Annotated[Path, typer.Option(help="prepared splits")] = Path("data/prepared"),
    out: Annotated[Path, typer.Option(help="folder for one sub-folder per baseline")] = Path("reports/baselines"),
    force: ForceOpt = False,
):
    """Score the trivial baselines (constant, silhouette dome, mean training face) on the test split."""
    from facedepth.scoring import evaluate_baselines

    _not_tracked(force, out=out)
    try:
        results = evaluate_baselines(prepared, out)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail_unwritable(exc, "--out")
    for summary, _, _ in results.values():
        _echo_eval(summary)


@app.command()
def report(
    models: Annotated[
        Optional[list[str]],
        typer.Option("--model", help="models to compare (repeatable; default: train.models of --params)"),
    ] = None,
    params: ParamsOpt = Path("params.yaml"),
    eval_root: Annotated[Path, typer.Option(help="folder of evaluate outputs")] = Path("reports/eval"),
    baselines_root: Annotated[Path, typer.Option("--baselines", help="folder of `facedepth baselines` outputs")] = Path(
        "reports/baselines"
    ),
    prepared: Annotated[Path, typer.Option(help="prepared splits")] = Path("data/prepared"),
    out: Annotated[Path, typer.Option(help="markdown table")] = Path("reports/comparison.md"),
    figure: Annotated[Path, typer.Option(help="qualitative figure")] = Path("reports/comparison.png"),
    curves: Annotated[
        Path, typer.Option(help="training curves of the models (from their dvclive logs under --train-root)")
    ] = Path("reports/training.png"),
    train_root: Annotated[Path, typer.Option(help="folder of the models' dvclive logs")] = Path("reports/train"),
    reference: Annotated[
        Path, typer.Option(help="the shipped model's evaluation on this test split (reference/dvc.yaml), if present")
    ] = Path("reports/reference/eval_default"),
):
    """One markdown table and one figure comparing the evaluated models."""
    from pipeline.report import build_report

    extra = {}
    if not models:  # the default models, and the shipped one where reference/dvc.yaml scored it on this split
        models = list(_params(params).train.models)
        if (reference / "predictions.npz").is_file():
            extra["reference"] = reference
    try:
        build_report(eval_root, baselines_root, prepared, models, out, figure, extra, train_root, curves)
    except FileNotFoundError as exc:
        fail(str(exc))
    # a short summary: the table is in the file (a DVC stage's log stays readable)
    headline = json.loads(out.with_name("metrics.json").read_text())
    for name, h in headline.items():
        typer.echo(
            f"{name:24s} Spearman {h['spearman']:.3f}  relief {h['relief_mm']:.2f} mm  SI AbsRel {h['si_abs_rel']:.4f}"
        )
    typer.echo(f"wrote {out}, {figure}{', ' + str(curves) if curves.is_file() else ''}", err=True)


@app.command("learning-curve")
def learning_curve(
    prepared: Annotated[Path, typer.Option(help="prepared splits")] = Path("data/prepared"),
    baselines_root: Annotated[Path, typer.Option("--baselines", help="`facedepth baselines` outputs")] = Path(
        "reports/baselines"
    ),
    out: Annotated[Path, typer.Option(help="folder for models, results.json, curve.md, curve.png")] = Path(
        "reports/learning_curve"
    ),
    fraction: Annotated[
        Optional[list[float]], typer.Option(help="fractions of the train identities (repeatable)")
    ] = None,
    model: Annotated[str, typer.Option(help="model to train")] = "facedepth_lite",
    params: ParamsOpt = Path("params.yaml"),
):
    """Train one model on growing subsets of the train split and plot test accuracy against training frames."""
    import json

    from facedepth.baselines import NAMES
    from facedepth.train import TrainConfig
    from pipeline.curve import run

    try:
        cfg = TrainConfig.from_params(_params(params), model)
        base = {n: json.loads((baselines_root / n / "metrics.json").read_text()) for n in NAMES}
    except (ValueError, OSError) as exc:
        fail(f"{exc}; run `facedepth baselines` first" if isinstance(exc, OSError) else str(exc))
    fractions = sorted(fraction or [0.25, 0.5, 1.0])
    if not all(0 < f <= 1 for f in fractions):
        fail(f"--fraction {fractions}: each must lie in (0, 1]")
    try:
        for r in run(cfg, prepared, out, fractions, base):
            typer.echo(
                f"{r['frames']} frames: SI AbsRel {r['scale_invariant.abs_rel']:.4f}, relief "
                f"{r['shape.relief_mm']:.2f} mm, Spearman {r['shape.spearman']:.3f}",
                err=True,
            )
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"wrote {out}/curve.md and curve.png", err=True)


@app.command()
def scaling(
    plan: Annotated[Path, typer.Option(help="the study's plan (points, profile, data, tests)")] = Path(
        "reference/scaling.yaml"
    ),
    models: Annotated[Path, typer.Option(help="folder for each point's checkpoints")] = Path("models/scaling"),
    out: Annotated[Path, typer.Option(help="folder for points/*.json, scaling.md, scaling.png")] = Path(
        "reports/scaling"
    ),
    only: Annotated[Optional[list[str]], typer.Option(help="run only these points (repeatable)")] = None,
):
    """Train and score the plan's points (data sizes, step counts, recipe changes); resumable, finished points kept."""
    from pipeline.scaling import read_plan, run

    try:
        p = read_plan(plan)
        unknown = set(only or []) - {q.name for q in p.points}
        if unknown:
            fail(f"--only {sorted(unknown)}: not points of {plan}")
        run(p, models, out, only, log=lambda m: typer.echo(m, err=True))
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"wrote {out}/scaling.md and scaling.png", err=True)


@app.command()
def predict(
    images: Annotated[Path, typer.Argument(help="an image file or a folder of images")],
    model: ModelOpt = None,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("predictions"),
    ply: Annotated[bool, typer.Option(help="also write a PLY point cloud")] = False,
    fov: Annotated[Optional[float], typer.Option(help="horizontal field of view in degrees (overrides EXIF)")] = None,
    fx: Annotated[Optional[float], typer.Option(help="focal length in pixels (overrides --fov and EXIF)")] = None,
    crop: Annotated[
        bool,
        typer.Option(
            help="locate people and predict each from a crop framed like the training data; "
            "--no-crop for pre-cropped input"
        ),
    ] = True,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda or cuda:N (default: cuda when available)")] = None,
    batch: Annotated[int, typer.Option(help="crops per forward pass", min=1)] = 8,
    mirror: Annotated[
        bool,
        typer.Option(help="average each crop's depth with its mirror image's (steadier; --no-mirror: half the time)"),
    ] = True,
    views: Annotated[
        bool,
        typer.Option(help="also predict each crop zoomed in and out, averaging the three (--no-views: 1/3 the time)"),
    ] = True,
):
    """Depth for any photo: float32 EXR (m), 16-bit PNG (mm), colourised PNG, optional PLY.

    Metric depth needs the camera's focal length: --fx, --fov, the photo's EXIF, else a 50 deg field of view.
    """
    if fx is not None and not (math.isfinite(fx) and fx > 0):
        fail(f"--fx {fx}: need a finite focal length in pixels > 0")
    _check_device(device)
    if fov is not None and not 0 < fov < 180:
        fail(f"--fov {fov}: need a horizontal field of view between 0 and 180 degrees")
    skipped = []

    def on_error(path, reason):
        skipped.append(path)
        typer.secho(f"skipped {path}: {reason}", fg="yellow", err=True)

    from pipeline.predict import predict_paths

    try:
        written = predict_paths(
            _checkpoint(model),
            images,
            out,
            ply,
            fov,
            fx,
            on_error,
            lambda path, note: typer.echo(f"{path}: {note}", err=True),
            crop,
            device,
            batch,
            mirror,
            views,
        )
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail_unwritable(exc, "--out")
    typer.echo(f"wrote {len(written)} files to {out}; skipped {len(skipped)} image(s)", err=True)
    if skipped:  # the job did not do all that was asked
        raise typer.Exit(1)


@app.command()
def demo(
    model: ModelOpt = None,
    video: Annotated[Optional[Path], typer.Option(help="video file instead of the webcam")] = None,
    camera: Annotated[int, typer.Option(help="webcam index")] = 0,
    out: Annotated[
        Optional[Path], typer.Option(help="write the RGB | depth view to this video instead of a window")
    ] = None,
    max_frames: Annotated[Optional[int], typer.Option(help="stop after this many frames")] = None,
    crop: Annotated[
        bool, typer.Option(help="predict each located person from a training-framed crop, as `predict` does")
    ] = True,
    runtime: Annotated[
        str, typer.Option(help="onnx (ONNX Runtime on the CPU, 2-3x faster) or torch (for --device cuda)")
    ] = "onnx",
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda or cuda:N (with --runtime torch)")] = None,
):
    """Live depth from a webcam or a video file, with FPS shown."""
    from facedepth.predict import Predictor
    from pipeline.demo import NoSource, run

    _check_device(device)
    try:
        stats = run(Predictor(_checkpoint(model), device, runtime=runtime), video, camera, out, max_frames, crop)
    except (NoSource, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"{stats['frames']} frames at {stats['fps']:.1f} FPS" + (f"; wrote {out}" if out else ""), err=True)


@app.command()
def export(
    model: ModelOpt = None,
    out: Annotated[Path, typer.Option(help="output file")] = Path("model.onnx"),
    format: Annotated[str, typer.Option("--format", help="only 'onnx' for now")] = "onnx",
):
    """Export to ONNX and check it against PyTorch in onnxruntime."""
    from facedepth.export import export_onnx

    if format != "onnx":
        fail(f"--format {format}: only 'onnx' is supported")
    ckpt = _checkpoint(model)
    typer.echo(f"exporting {ckpt} to {out}, then checking it against PyTorch in onnxruntime...", err=True)
    try:
        diff = export_onnx(ckpt, out)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail_unwritable(exc, "--out")
    typer.echo(f"wrote {out}; max |onnxruntime - torch| = {diff:.2e}", err=True)


@app.command()
def ship(
    checkpoint: Annotated[Path, typer.Option(help="trained checkpoint to ship")] = Path("models/reference/best.pt"),
    out: Annotated[Path, typer.Option(help="weights file to write; the model card goes beside it (.md)")] = Path(
        "facedepth/weights/reference.pt"
    ),
    evals: Annotated[
        Optional[list[str]],
        typer.Option(
            "--eval", help="SPLIT=FOLDER of `facedepth evaluate` output (repeatable; the first is the headline)"
        ),
    ] = None,
    baselines: Annotated[
        Optional[Path], typer.Option(help="`facedepth baselines` output on the first --eval split")
    ] = None,
    profile: Annotated[
        str, typer.Option(help="the params profile the model was trained with")
    ] = "profiles/reference.yaml",
    data_summary: Annotated[Optional[Path], typer.Option(help="dataset summary.json of the training data")] = None,
):
    """Ship a checkpoint as the package's reference model: weights only, plus a model card from its evaluations."""
    from pipeline.ship import ship as run_ship

    pairs = {}
    for item in evals or []:
        split, sep, folder = item.partition("=")
        if not sep or not (Path(folder) / "metrics.json").is_file():
            fail(f"--eval {item}: need SPLIT=FOLDER where FOLDER holds metrics.json of `facedepth evaluate`")
        pairs[split] = Path(folder)
    try:
        card = run_ship(checkpoint, out, pairs, baselines, profile, data_summary)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"wrote {out} and {card}", err=True)


@app.command("locator-train")
def locator_train(
    prepared: Annotated[Path, typer.Option(help="prepared renders whose train split is pasted into scenes")] = Path(
        "data/reference/prepared"
    ),
    out: Annotated[Path, typer.Option(help="folder for last.pt (resumable) and best.pt")] = Path("models/locator"),
    steps: Annotated[int, typer.Option(min=1, help="optimiser steps")] = 6000,
    batch: Annotated[int, typer.Option(min=1, help="scenes per step")] = 24,
    seed: Annotated[int, typer.Option(min=0, help="draws every scene: the same seed gives the same run")] = 0,
    ship_to: Annotated[Optional[Path], typer.Option(help="also write the weights-only file here")] = None,
    lr: Annotated[float, typer.Option(min=0, help="peak learning rate (one-cycle)")] = 2e-3,
    recolour: Annotated[
        float, typer.Option(min=0, max=1, help="share of people whose clothes change colour in the scenes")
    ] = 0.0,
    init: Annotated[Optional[Path], typer.Option(help="a locator checkpoint to fine-tune from")] = None,
    centres: Annotated[bool, typer.Option(help="also learn each head's centre (tells touching heads apart)")] = False,
):
    """Train the person locator on scenes composed from renders and the bundled HDRIs; resumes from last.pt."""
    from facedepth.locate_train import LocatorConfig, train_locator
    from pipeline.backgrounds import hdri_backgrounds

    if init is not None and not init.is_file():
        fail(f"--init {init}: no such locator checkpoint; train one with `facedepth locator-train` first")
    cfg = LocatorConfig(
        steps=steps,
        batch=batch,
        seed=seed,
        lr=lr,
        recolour=recolour,
        init=str(init or ""),
        centres=centres,
    )
    try:
        scores = train_locator(prepared, out, cfg, hdri_backgrounds(), log=lambda m: typer.echo(m, err=True))
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    if ship_to:
        from pipeline.ship import ship_locator

        ship_locator(out / "best.pt", ship_to)
        typer.echo(f"wrote {ship_to}", err=True)
    typer.echo(f"located {scores['located']:.3f} of {scores['heads']} val heads", err=True)
