"""The `tpt-live` command line. The only module that imports typer.

Every command parses its options, calls one delegate, and lets `main` turn a `TptError` into one line
on stderr and its exit code. Heavy modules (`trainer`, `engines`, torch) are imported inside command
bodies so that `tpt-live --help` stays fast.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from tpt_live import __version__
from tpt_live.errors import InputError, NotBuiltError, TptError

app = typer.Typer(
    name="tpt-live",
    help="Real-time pose tracking with an unsupervised template-based model (TPT).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("tpt_live")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tpt-live {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _not_built(command: str) -> None:
    raise NotBuiltError(f"`tpt-live {command}` is not built yet in this version")


@app.command()
def train(
    data: Annotated[list[str], typer.Argument(help="Videos, folders of videos, or image folders (one scene each).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Run folder: checkpoints, metrics.jsonl, grids.")],
    size: Annotated[int, typer.Option(help="Model input size S (frames are resized to S x S).")] = 64,
    template: Annotated[str, typer.Option(help="Template: infant, arms_down, tpose or a JSON file.")] = "infant",
    steps: Annotated[int, typer.Option(help="Optimisation steps (per process under torchrun).")] = 3000,
    batch: Annotated[int, typer.Option(help="Frame pairs per step (per process).")] = 16,
    lr: Annotated[float, typer.Option(help="Adam learning rate of the regressor.")] = 2e-4,
    lr_decoder: Annotated[float, typer.Option(help="Adam learning rate of the decoder.")] = 5e-4,
    anchor_weight: Annotated[float, typer.Option(help="Anchor-link loss weight (0 disables it).")] = 0.5,
    boundary_weight: Annotated[float, typer.Option(help="Boundary loss weight (0 disables it).")] = 1.0,
    freeze_steps: Annotated[int, typer.Option(help="First steps in which only the decoder learns.")] = 300,
    coarse_steps: Annotated[int, typer.Option(help="Steps with one shared affine for all parts.")] = 0,
    blend_steps: Annotated[int, typer.Option(help="Steps over which the parts then become free.")] = 0,
    sigma_steps: Annotated[int, typer.Option(help="Steps over which the template narrows to its width.")] = 1500,
    mask_appearance: Annotated[
        bool, typer.Option(help="Blank the appearance frame's own figure before the decoder sees it.")
    ] = False,
    roi: Annotated[str | None, typer.Option(help="Fixed region of interest x,y,w,h in source pixels.")] = None,
    vgg_weights: Annotated[
        str | None, typer.Option(help="torchvision VGG-19 weights file: adds the relu3_2 perceptual loss.")
    ] = None,
    val: Annotated[
        str | None, typer.Option(help="`tpt-live synth` folder to report keypoint error on while training.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt.")] = False,
    init: Annotated[
        str | None, typer.Option(help="Start from this model file (fine-tuning), e.g. the shipped model.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    amp: Annotated[bool, typer.Option(help="Mixed precision (use on CUDA; slow on CPUs without AMX).")] = False,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and pair sampling.")] = 0,
    ckpt_every: Annotated[int, typer.Option(help="Steps between checkpoints.")] = 500,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Learn body keypoints from unlabelled videos (no annotations). Scales with `torchrun`."""
    from pathlib import Path

    import torch

    from tpt_live.crop import parse_roi
    from tpt_live.model import ModelConfig
    from trainer.data import load_scenes
    from trainer.loop import TrainConfig
    from trainer.loop import train as run_training

    if threads:
        torch.set_num_threads(threads)
    if init:  # the model file decides the input size and template
        from tpt_live.checkpoint import read_metadata

        size = int(read_metadata(init)["config"]["input_size"])
    model_cfg = ModelConfig(input_size=size, template=template)
    cfg = TrainConfig(
        steps=steps, batch=batch, lr=lr, lr_decoder=lr_decoder, anchor_weight=anchor_weight,
        boundary_weight=boundary_weight, freeze_steps=freeze_steps, coarse_steps=coarse_steps,
        blend_steps=blend_steps,
        sigma_steps=sigma_steps, mask_appearance=mask_appearance, bf16=amp, seed=seed,
        ckpt_every=ckpt_every, vgg_weights=vgg_weights,
    )  # fmt: skip
    run_dir = Path(out)
    scenes = load_scenes(data, size, parse_roi(roi) if roi else None, cache_dir=run_dir / "cache")
    validate = _validator(val, size) if val else None
    with _TrainDisplay(steps, quiet) as display:
        final = run_training(
            scenes, run_dir, model_cfg, cfg, device, resume, validate, on_log=display.update,
            init=Path(init) if init else None,
        )  # fmt: skip
    typer.echo(f"model: {run_dir / 'model.safetensors'}  last: {final}", err=True)


def _validator(folder: str, size: int):
    import torch

    from tpt_live.evaluate import evaluate_2d, load_labelled

    videos = load_labelled(folder, size)

    def validate(model):
        def predict(frames):
            with torch.no_grad():
                batch = torch.from_numpy(frames).permute(0, 3, 1, 2).to(model.maps.device)
                return model.poses(batch).keypoints.cpu().numpy()

        r = evaluate_2d(videos, predict, size)
        return {"err_pct": round(r["mean_error_pct"], 3), **{k: round(v, 2) for k, v in r["per_part"].items()}}

    return validate


class _TrainDisplay:
    """A rich progress bar fed by the trainer's metric rows."""

    def __init__(self, steps: int, quiet: bool) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = None if quiet else Progress(
            TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeRemainingColumn(), TextColumn("{task.description}"),
        )  # fmt: skip
        self.task = self.progress.add_task("", total=steps) if self.progress else None

    def __enter__(self) -> _TrainDisplay:
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.progress.stop()

    def update(self, row: dict) -> None:
        if self.progress is None or self.task is None:
            return
        keys = ("loss", "rec", "anchor", "boundary", "images_per_s", "template_gain", "val_err_pct")
        text = " ".join(f"{k}={row[k]}" for k in keys if k in row)
        self.progress.update(self.task, completed=row["step"], description=text)


@app.command()
def evaluate(
    data: Annotated[str, typer.Argument(help="A folder of `tpt-live synth` output (<name>.mp4 + <name>.json).")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Checkpoint, .onnx or engine; default: the shipped model.")
    ] = None,
    backend: Annotated[str, typer.Option(help="auto, torch, onnxruntime or tensorrt.")] = "torch",
    json_out: Annotated[str | None, typer.Option("--json", help="Write the metrics here as JSON.")] = None,
    roi: Annotated[
        str | None, typer.Option(help="Evaluate on this crop x,y,w,h of every frame (as a training --roi).")
    ] = None,
    lifter: Annotated[
        str | None, typer.Option("--lifter", help="Lifter file for the 3D figures; default: the shipped lifter.")
    ] = None,
    supervised_lifter: Annotated[
        str | None, typer.Option("--supervised-lifter", help="Supervised upper-bound lifter; default: the shipped one.")
    ] = None,
) -> None:
    """Measure the 2D keypoint error of a model on `tpt-live synth` output (and 3D error when a lifter exists)."""
    import json
    from pathlib import Path

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from engines import open_backend
    from tpt_live.evaluate import evaluate_2d, load_labelled, template_baseline
    from tpt_live.track.overlay import template_of

    if not Path(data).is_dir():
        raise InputError(f"{data} is not a folder of `tpt-live synth` output (<name>.mp4 + <name>.json)")
    engine = open_backend(model, backend=backend)
    size = engine.input_size
    from tpt_live.crop import parse_roi

    videos = load_labelled(data, size, parse_roi(roi) if roi else None)
    predicted: list[np.ndarray] = []  # the 2D model's keypoints, kept for the 3D figures

    def predict(frames: np.ndarray) -> np.ndarray:
        predicted.append(engine.infer(frames).keypoints)
        return predicted[-1]

    result = evaluate_2d(videos, predict, size)
    result["model"] = {"name": engine.model_name, "digest": engine.model_digest, "backend": engine.name}
    if roi:
        result["roi"] = roi
    template = template_of(engine, model)
    baseline = template_baseline(template, videos, size) if template is not None else None
    if baseline is not None:
        result["template_only_error_pct"] = baseline
    table = Table(title=f"{len(videos)} videos, {result['n_frames']} frames, error in % of {size} px")
    for col in ("", "mean", "hips", "knees", "feet", "shoulders", "hands", "PCK@0.05"):
        table.add_column(col)
    for label, key, parts in (("swap-tolerant", "mean_error_pct", "per_part"),
                              ("strict", "mean_error_pct_strict", "per_part_strict")):  # fmt: skip
        table.add_row(
            label, f"{result[key]:.2f}", *(f"{result[parts][p]:.2f}" for p in ("hips", "knees", "feet",
            "shoulders", "hands")), f"{result['pck@0.05']:.3f}" if label == "swap-tolerant" else "",
        )  # fmt: skip
    if baseline is not None:
        table.add_row("template only", f"{baseline:.2f}", *[""] * 6)
    Console(stderr=True).print(table)
    from tpt_live.evaluate3d import report_3d
    from tpt_live.lifter import default_lifter_path, load_lifter

    lifter_path = Path(lifter) if lifter else default_lifter_path()
    if lifter or lifter_path.is_file():
        sup_path = Path(supervised_lifter) if supervised_lifter else default_lifter_path(supervised=True)
        sup = load_lifter(sup_path) if supervised_lifter or sup_path.is_file() else None
        gt2d, gt3d = (np.concatenate([getattr(v, k) for v in videos]) for k in ("kp2d", "kp3d"))
        r3 = result["3d"] = report_3d(gt2d, gt3d, load_lifter(lifter_path), sup, np.concatenate(predicted))
        table = Table(title="3D, mm; the last four columns are P-MPJPE (refl: reflection allowed)")
        for col in ("2D input", "MPJPE", "N-MPJPE", "P-MPJPE", "refl", "flat", "supervised", "true depth"):
            table.add_column(col)
        for label, r in (("ground truth", r3), ("2D model", r3["from_model_2d"])):
            keys = (
                "mpjpe_mm",
                "n_mpjpe_mm",
                "p_mpjpe_mm",
                "p_mpjpe_reflect_mm",
                "flat_p_mpjpe_mm",
                "supervised_p_mpjpe_mm",
                "oracle_depth_p_mpjpe_mm",
            )
            table.add_row(label, *(f"{r[k]:.1f}" if k in r else "" for k in keys))
        Console(stderr=True).print(table)
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1) + "\n")


@app.command("train-lifter")
def train_lifter(
    poses: Annotated[
        list[str],
        typer.Argument(help="`tpt-live track` JSON outputs or `tpt-live synth` ground truth (files, folders)."),
    ],
    out: Annotated[str, typer.Option("--out", "-o", help="Run folder: lifter.safetensors (+ .json), metrics.jsonl.")],
    views: Annotated[
        str, typer.Option(help="Random views: infant (tilt +-20-40 deg, filmed from above) or upright (azimuth).")
    ] = "infant",
    prior: Annotated[
        str, typer.Option(help="2D prior on random views: discriminator, flow or none.")
    ] = "discriminator",
    steps: Annotated[int, typer.Option(help="Optimisation steps.")] = 3000,
    batch: Annotated[int, typer.Option(help="Poses per step.")] = 256,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    noise: Annotated[float, typer.Option(help="2D input noise, in root-to-neck lengths.")] = 0.05,
    bone_ratios: Annotated[
        str | None,
        typer.Option(
            help="Absolute 3D bone ratios: a template name (infant) or file, or a JSON {bone: length}; "
            "default: the 2D data's 90th-percentile ratios (measured better on synth infants)."
        ),
    ] = None,
    bone_weight: Annotated[float, typer.Option(help="Weight of the bone-ratio prior.")] = 5.0,
    sign_weight: Annotated[
        float, typer.Option(help="Infant views: weight of the lying-on-a-mat prior (no joint behind the torso).")
    ] = 10.0,
    body_length: Annotated[
        float | None, typer.Option(help="Assumed head-to-ankle length in metres (default 0.55 infant, 1.45 upright).")
    ] = None,
    supervised: Annotated[
        bool, typer.Option(help="Learn from synth 3D ground truth instead (the supervised upper bound).")
    ] = False,
    hidden: Annotated[int, typer.Option(help="Width of the residual MLP.")] = 256,
    seed: Annotated[int, typer.Option(help="Seed for initialisation, batches and views.")] = 0,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress lines.")] = False,
) -> None:
    """Learn 3D from 2D keypoints without 3D labels (lift-reproject-lift cycle with a 2D pose prior)."""
    import torch

    from tpt_live.lifter import ADULT_BODY_LENGTH_M, INFANT_BODY_LENGTH_M, LifterConfig
    from trainer.lifter_train import LifterTrainConfig, load_bone_ratios, load_sequences
    from trainer.lifter_train import train_lifter as run_training

    if threads:
        torch.set_num_threads(threads)
    length = body_length or (INFANT_BODY_LENGTH_M if views == "infant" else ADULT_BODY_LENGTH_M)
    model_cfg = LifterConfig(hidden=hidden, body_length_m=length)
    ratios = load_bone_ratios(bone_ratios) if bone_ratios else None
    cfg = LifterTrainConfig(steps=steps, batch=batch, lr=lr, views=views, prior=prior, noise=noise,
                            supervised=supervised, seed=seed, bone_ratios=ratios, w_bone=bone_weight,
                            w_sign=sign_weight)  # fmt: skip
    seqs = load_sequences(poses)

    def show(row: dict) -> None:
        if not quiet:
            typer.echo(" ".join(f"{k}={v}" for k, v in row.items()), err=True)

    path = run_training(seqs, out, cfg, model_cfg, on_log=show)
    typer.echo(f"lifter: {path}", err=True)


@app.command()
def export(
    out: Annotated[str, typer.Option("--out", "-o", help="Output file: .onnx, or .engine/.plan for TensorRT.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="onnx or tensorrt.")] = "onnx",
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Checkpoint (.safetensors); default: the shipped model.")
    ] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="TensorRT: build an FP16 engine.")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="TensorRT: build an INT8 engine (needs --calib).")] = False,
    calib: Annotated[
        str | None, typer.Option("--calib", help="INT8 calibration frames: a video file or an image folder.")
    ] = None,
    check: Annotated[
        str | None, typer.Option("--check", help="Frames for the parity check (default: --calib, else random).")
    ] = None,
    batch: Annotated[str, typer.Option("--batch", help="TensorRT batch profile MIN:OPT:MAX.")] = "1:8:32",
    workspace_gb: Annotated[float, typer.Option("--workspace-gb", help="TensorRT builder workspace, GiB.")] = 2.0,
) -> None:
    """Compile the model to ONNX or a TensorRT engine, then check it against PyTorch."""
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from engines.export import ExportRequest, check_parity, export, parity, resolve_model
    from engines.trt_build import parse_batch
    from tpt_live.errors import InputError

    if fp16 and int8:
        raise InputError("pass one of --fp16 and --int8, not both")
    req = ExportRequest(
        model=resolve_model(model),
        format=fmt,
        out=Path(out),
        precision="int8" if int8 else "fp16" if fp16 else "fp32",
        batch=parse_batch(batch),
        workspace_gb=workspace_gb,
        calib=Path(calib) if calib else None,
        check=Path(check) if check else None,
    )
    artefact = export(req)
    rows = parity(req, artefact)
    table = Table(title=f"{artefact} vs PyTorch fp32")
    for column in ("backend", "precision", "max keypoint diff (px)", "tolerance (px)", "ms/frame"):
        table.add_column(column, justify="left" if column in ("backend", "precision") else "right")
    for r in rows:
        tol = "reference" if r.tolerance_px is None else f"{r.tolerance_px:g}"
        table.add_row(r.backend, r.precision, f"{r.max_px:.5f}", tol, f"{r.ms_per_frame:.2f}")
    Console().print(table)
    check_parity(rows)


@app.command()
def track(
    sources: Annotated[
        list[str], typer.Argument(help="Video files, folders, globs, image folders, camera 0 or /dev/video0, URLs.")
    ],
    out: Annotated[str, typer.Option("--out", "-o", help="Output file (one source) or folder (several).")],
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="json, jsonl, csv, openpose or coco (default: from --out).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Checkpoint, ONNX file or engine; default: the shipped model.")
    ] = None,
    backend: Annotated[str, typer.Option("--backend", help="auto, torch, onnxruntime or tensorrt.")] = "auto",
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="fp32, fp16, bf16 or int8.")] = "fp32",
    roi: Annotated[
        str | None, typer.Option("--roi", help="Fixed crop x,y,w,h in source pixels (made square around its centre).")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Centre a square crop on the subject.")] = False,
    batch: Annotated[int, typer.Option("--batch", help="Frames per inference call (files).")] = 8,
    save_video: Annotated[
        str | None, typer.Option("--save-video", help="Write the overlay as H.264 .mp4 (a folder for several sources).")
    ] = None,
    show: Annotated[bool, typer.Option("--show", help="Show the overlay in a window (needs a display).")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Videos tracked in parallel processes.")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
    reconnect: Annotated[int, typer.Option("--reconnect", help="Reconnect attempts for cameras and streams.")] = 3,
    smooth: Annotated[bool, typer.Option("--smooth/--no-smooth", help="One-Euro smoothing of keypoints.")] = True,
    min_cutoff: Annotated[float, typer.Option("--min-cutoff", help="One-Euro cutoff at rest, Hz.")] = 1.0,
    beta: Annotated[float, typer.Option("--beta", help="One-Euro speed coefficient (higher: less lag).")] = 0.01,
) -> None:
    """Track poses in a video file, folder, webcam or stream.

    Exit codes: 0 done, 2 bad argument, 3 source missing/unreadable/lost, 4 model, 5 backend missing, 130
    interrupted (outputs are finalised and valid).
    """
    import signal
    from pathlib import Path

    from rich.console import Console

    import engines
    from tpt_live.crop import parse_roi
    from tpt_live.track.pipeline import TrackConfig
    from tpt_live.track.runner import TrackRequest, run_track
    from tpt_live.track.smoothing import SmoothingConfig

    signal.signal(signal.SIGTERM, _interrupt)
    config = TrackConfig(
        batch=batch,
        roi=parse_roi(roi) if roi else None,
        follow=follow,
        smoothing=SmoothingConfig(enabled=smooth, min_cutoff=min_cutoff, beta=beta),
    )
    request = TrackRequest(
        tuple(sources), Path(out), fmt, model, backend, device, precision, config,
        Path(save_video) if save_video else None, show, jobs, reconnect,
    )  # fmt: skip
    if show:
        from tpt_live.track.overlay import Window

        Window()  # fails early, with one line, when there is no display
    console = Console(stderr=True, quiet=quiet)
    try:
        with _TrackProgress(console) as progress:
            summaries = run_track(request, engines.open_backend, progress)
    except KeyboardInterrupt:  # handled here: typer turns it into a return value, not an exit code
        typer.echo("interrupted: outputs finalised", err=True)
        sys.exit(130)
    _print_summary(console, summaries)
    codes = [s.exit_code for s in summaries if s.exit_code]
    if codes:  # each error was printed as one line above; exit with the first one's code
        sys.exit(codes[0])


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends a run like Ctrl-C: outputs are finalised, exit code 130."""
    raise KeyboardInterrupt


class _TrackProgress:
    """A rich progress bar per source (frames, fps, ETA); `tpt_live.track.runner.Progress`."""

    def __init__(self, console: object) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:>6.1f} fps"),
            TimeRemainingColumn(),
            console=console,  # type: ignore[arg-type]
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _TrackProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tasks:
            self._bar.stop()

    def start(self, name: str, total: int) -> None:
        if not self._tasks:
            self._bar.start()
        self._tasks[name] = self._bar.add_task(name, total=total or None, fps=0.0)

    def advance(self, name: str, frames: int) -> None:
        if name not in self._tasks:
            self.start(name, 0)
        task = self._tasks[name]
        self._bar.advance(task, frames)
        speed = self._bar.tasks[task].speed or 0.0
        self._bar.update(task, fps=speed)


def _print_summary(console: object, summaries: list) -> None:
    """One line per source on stderr: frames, drops, errors, throughput; errors and warnings as lines."""
    for s in summaries:
        if s.error:
            typer.echo(f"error: {s.error}", err=True)
            continue
        for problem in s.problems:
            typer.echo(f"warning: {problem}", err=True)
        console.print(  # type: ignore[attr-defined]
            f"{s.output}: {s.frames} frames ({s.ok} ok, {s.dropped} dropped, {s.decode_errors} decode errors), "
            f"{s.fps:.1f} frames/s, latency p50 {s.latency_p50 * 1e3:.0f} ms"
            + (f", video {s.video}" if s.video else "")
        )


@app.command()
def monitor(
    src: Annotated[str, typer.Argument(help="Camera index or /dev/videoN, rtsp/http(s) URL, or a video file.")],
    out: Annotated[
        str, typer.Option("--out", "-o", help="Folder: events.jsonl, features.csv, summary.json, evidence/.")
    ] = "monitor_out",
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Checkpoint, ONNX file or engine; default: the shipped model.")
    ] = None,
    backend: Annotated[str, typer.Option("--backend", help="auto, torch, onnxruntime or tensorrt.")] = "auto",
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    realtime: Annotated[bool, typer.Option("--realtime", help="Play a file as a live source (paced).")] = False,
    roi: Annotated[str | None, typer.Option("--roi", help="Region x,y,w,h in source pixels (also the crop).")] = None,
    crib: Annotated[str | None, typer.Option("--crib", help="Region polygon JSON [[x, y], ...] in pixels.")] = None,
    serve: Annotated[str | None, typer.Option("--serve", help="Web view on HOST:PORT, e.g. 127.0.0.1:8765.")] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Token for the web view (generated for non-loopback binds).")
    ] = None,
    notify: Annotated[list[str] | None, typer.Option("--notify", help="webhook:URL or cmd:PROGRAM (repeat).")] = None,
    no_infant_s: Annotated[float, typer.Option("--no-infant-s", help="Seconds without infant before alerting.")] = 10.0,
    no_movement_s: Annotated[float, typer.Option("--no-movement-s", help="Seconds of stillness.")] = 20.0,
    out_of_region_s: Annotated[float, typer.Option("--out-of-region-s", help="Seconds outside the region.")] = 10.0,
    posture_s: Annotated[float, typer.Option("--posture-s", help="Seconds on the side or front.")] = 30.0,
    camera_lost_s: Annotated[float, typer.Option("--camera-lost-s", help="Seconds without frames.")] = 5.0,
    confirm_s: Annotated[float, typer.Option("--confirm-s", help="Confirmation window of every alert.")] = 3.0,
    cooldown_s: Annotated[float, typer.Option("--cooldown-s", help="Cooldown of every alert.")] = 60.0,
    moving_threshold: Annotated[
        float, typer.Option("--moving-threshold", help="Movement energy (trunk lengths/s) that counts as moving.")
    ] = 0.15,
    window_s: Annotated[float, typer.Option("--window-s", help="Seconds per movement-feature row.")] = 60.0,
    retain_days: Annotated[float, typer.Option("--retain-days", help="Delete evidence older than this.")] = 30.0,
    retain_gb: Annotated[float, typer.Option("--retain-gb", help="Keep the evidence folder under this size.")] = 5.0,
    presence: Annotated[
        str | None, typer.Option("--presence", help="Presence weights; default: the shipped file.")
    ] = None,
    reconnect: Annotated[int, typer.Option("--reconnect", help="Decoder reconnects before reopening.")] = 3,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live panel (events still go to stdout).")] = False,
) -> None:
    """Live infant monitoring: presence, movement and posture alerts, evidence clips, features, web view.

    NOT A MEDICAL DEVICE. Exit codes: 0 done, 2 bad argument, 3 source, 4 model, 130 interrupted.
    """
    import json
    import signal
    from dataclasses import replace
    from pathlib import Path

    import numpy as np
    from rich.console import Console

    import engines
    from tpt_live.crop import check_roi, parse_roi, square_box
    from tpt_live.errors import InputError
    from tpt_live.monitor.alerts import AlertConfig, RuleConfig
    from tpt_live.monitor.evidence import EvidenceConfig
    from tpt_live.monitor.movement import MovementConfig
    from tpt_live.monitor.notify import EventSink, parse_notify
    from tpt_live.monitor.presence import load_presence
    from tpt_live.monitor.session import Monitor, MonitorConfig, load_polygon
    from tpt_live.monitor.webview import NOT_MEDICAL, LiveState, WebView, is_loopback, parse_bind, resolve_token
    from tpt_live.track.overlay import Overlay, template_of
    from tpt_live.track.pipeline import TrackConfig
    from tpt_live.track.sources import VideoSource, resolve_sources

    signal.signal(signal.SIGTERM, _interrupt)
    for target in notify or []:
        parse_notify(target)
    bind = parse_bind(serve) if serve else None
    specs = resolve_sources([src])
    if len(specs) != 1:
        raise InputError(f"monitor watches one source; {src!r} gives {len(specs)}")
    spec = specs[0]
    region_box = parse_roi(roi) if roi else None
    if region_box is not None and crib:
        raise InputError("pass --roi or --crib, not both")
    polygon = load_polygon(Path(crib)) if crib else None
    if region_box is not None:
        b = region_box
        polygon = np.array([[b.x, b.y], [b.x + b.w, b.y], [b.x + b.w, b.y + b.h], [b.x, b.y + b.h]], np.float32)

    def rule(threshold: float) -> RuleConfig:
        return RuleConfig(threshold, confirm_s, cooldown_s)

    alerts = AlertConfig(
        no_infant=rule(no_infant_s), no_movement=replace(rule(no_movement_s), gap=0.0),
        out_of_region=rule(out_of_region_s), posture=rule(posture_s),
        camera_lost=RuleConfig(camera_lost_s, 0.0, cooldown_s),
    )  # fmt: skip
    config = MonitorConfig(
        track=TrackConfig(roi=square_box(region_box) if region_box else None),
        region=tuple(map(tuple, polygon.tolist())) if polygon is not None else None,
        alerts=alerts,
        movement=MovementConfig(moving_threshold=moving_threshold, feature_window=window_s),
        evidence=EvidenceConfig(retain_days=retain_days, retain_gb=retain_gb),
    )
    net = load_presence(presence)
    engine = engines.open_backend(model, backend=backend, device=device)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    console.print(f"[bold red]{NOT_MEDICAL}[/bold red]")

    def open_source() -> VideoSource:
        source = VideoSource(spec, engine.input_size, config.track.roi, True, True, reconnect, realtime)
        if region_box is not None:
            check_roi(region_box, source.info.width, source.info.height)
        return source

    live = LiveState() if bind else None
    web = None
    if bind is not None and live is not None:
        host, port = bind
        web = WebView(live, host, port, resolve_token(host, token))
        note = "" if is_loopback(host) else " (token required)"
        console.print(f"web view: {web.url}{note}")

    def on_event(event: dict) -> None:
        typer.echo(json.dumps(event))

    sink = EventSink(out_dir / "events.jsonl", tuple(notify or ()), on_event)
    overlay = Overlay(template_of(engine, model), engine.input_size)
    panel = _MonitorPanel(console, quiet)
    mon = Monitor(open_source, engine, net, config, sink, out_dir, live, overlay, panel.update)
    try:
        with panel:
            summary = mon.run()
    except KeyboardInterrupt:
        mon.close()
        typer.echo("interrupted: outputs finalised", err=True)
        sys.exit(130)
    finally:
        if web is not None:
            web.close()
        engine.close()
    console.print(f"summary: {out_dir / 'summary.json'}: {json.dumps(summary.to_dict()['alerts'])} alerts")


class _MonitorPanel:
    """A rich live panel of the monitoring state on stderr, redrawn at most 4 times a second."""

    def __init__(self, console: object, quiet: bool) -> None:
        from rich.live import Live

        self._live = None if quiet else Live(console=console, auto_refresh=False)  # type: ignore[arg-type]
        self._shown = 0.0

    def __enter__(self) -> _MonitorPanel:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def update(self, state: dict) -> None:
        import time

        from rich.table import Table

        if self._live is None or time.monotonic() - self._shown < 0.25:
            return
        self._shown = time.monotonic()
        table = Table(title="tpt-live monitor (not a medical device)", show_header=False)
        for key, value in state.items():
            table.add_row(key, str(value))
        self._live.update(table, refresh=True)


@app.command()
def bench(
    src: Annotated[str, typer.Argument(help="A video file to measure on.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Checkpoint or ONNX file; default: the shipped model.")
    ] = None,
    backend: Annotated[
        list[str] | None, typer.Option("--backend", help="Backend(s) to measure (repeat); default: torch, onnxruntime.")
    ] = None,
    seconds: Annotated[float, typer.Option("--seconds", help="Longest time per measurement.")] = 10.0,
    live_delay_ms: Annotated[
        float, typer.Option("--live-delay-ms", help="Model time per frame in the simulated live test (0: as is).")
    ] = 50.0,
    json_out: Annotated[str | None, typer.Option("--json", help="Also write the rows to this JSON file.")] = None,
) -> None:
    """Measure decoding, end-to-end tracking (with and without overlay video) and live latency."""
    import json
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    import engines
    from tpt_live.track.bench import as_dicts, run_bench

    names = tuple(backend) if backend else ("torch", "onnxruntime")
    rows = run_bench(src, engines.open_backend, model, names, seconds, live_delay_ms / 1e3)
    table = Table(title=f"tpt-live bench: {src}")
    for column in ("test", "backend", "frames", "frames/s", "p50 ms", "p95 ms", "drops", "note"):
        table.add_column(column, justify="left" if column in ("test", "backend", "note") else "right")
    for r in rows:
        ms = [f"{v:.1f}" if v is not None else "" for v in (r.p50_ms, r.p95_ms)]
        drops = "" if r.drops is None else str(r.drops)
        table.add_row(r.test, r.backend, str(r.frames), f"{r.fps:.1f}", *ms, drops, r.note)
    Console().print(table)
    if json_out:
        Path(json_out).write_text(json.dumps(as_dicts(rows), indent=1) + "\n")


@app.command()
def synth(
    out_dir: Annotated[str, typer.Argument(help="Directory for <name>.mp4 and <name>.json (created if needed).")],
    videos: Annotated[int, typer.Option("--videos", help="Number of videos to render.")] = 8,
    frames: Annotated[int, typer.Option("--frames", help="Frames per video.")] = 90,
    size: Annotated[str, typer.Option("--size", help="Frame size WIDTHxHEIGHT (even numbers).")] = "256x256",
    fps: Annotated[float, typer.Option("--fps", help="Frame rate of the motion and the video.")] = 30.0,
    seed: Annotated[int, typer.Option("--seed", help="Dataset seed; video i is the same whatever --videos is.")] = 0,
    pose: Annotated[str, typer.Option("--pose", help="supine, side, prone or mixed (drawn per video).")] = "supine",
    preview: Annotated[bool, typer.Option("--preview", help="Also write <name>_preview.png contact sheets.")] = False,
    scenario: Annotated[
        str | None,
        typer.Option(help="Monitoring scenario: active, absent, leave_return, still or roll (labels per frame)."),
    ] = None,
) -> None:
    """Render synthetic infant videos with exact 2D/3D ground truth."""
    import time
    from pathlib import Path

    from rich.console import Console

    from tpt_live.errors import InputError
    from tpt_live.synth import SynthConfig, iter_clips, parse_size, prepare_out_dir, write_clip

    width, height = parse_size(size)
    config = SynthConfig(width=width, height=height, frames=frames, fps=fps, seed=seed, pose=pose)
    if videos < 1:
        raise InputError(f"bad video count {videos}: use --videos 1 or more")
    out = prepare_out_dir(Path(out_dir))
    console = Console(stderr=True)
    start, render_s = time.perf_counter(), 0.0
    if scenario is None:
        clips = iter_clips(config, videos)
    else:
        from dataclasses import replace

        from tpt_live.synth.scenarios import render_scenario

        clips = (render_scenario(replace(config, index=i), scenario) for i in range(videos))
    for clip in clips:
        write_clip(clip, out, preview=preview)
        render_s += clip.render_seconds
        console.print(f"  {clip.name}: {frames} frames ({frames / max(clip.render_seconds, 1e-9):.0f} fps rendering)")
    total = videos * frames
    console.print(
        f"[bold]wrote {videos} videos[/bold] x {frames} frames ({width}x{height}) to {out}: "
        f"rendering {total / max(render_s, 1e-9):.0f} fps, total {time.perf_counter() - start:.1f} s"
    )


def main() -> None:
    """Entry point: run the app; a `TptError` becomes one line on stderr and its exit code."""
    try:
        code = app(standalone_mode=False)  # typer returns the code of `typer.Exit` and of Ctrl-C here
    except TptError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad option values, missing arguments
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        typer.echo(f"error: {message}", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
