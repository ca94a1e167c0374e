"""`tpt-live train-lifter`: options -> `LifterTrainConfig` -> `trainer.lifter_train.train_lifter`;
`tpt-live mocap`: motion capture -> virtual cameras -> keypoint-only synth JSON (`tpt_live.mocap`)."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from tpt_live.cli.common import given, output_folder, set_threads


def train_lifter(
    poses: Annotated[
        list[str],
        typer.Argument(help="`tpt-live track` JSON outputs or `tpt-live synth` ground truth (files, folders)."),
    ],
    out: Annotated[str, typer.Option("--out", "-o", help="Run folder: lifter.safetensors (+ .json), metrics.jsonl.")],
    views: Annotated[
        str | None,
        typer.Option(help="Random views: infant (tilt +-20-40 deg, filmed from above) or upright (azimuth)."),
    ] = None,
    prior: Annotated[str | None, typer.Option(help="2D prior on random views: discriminator, flow or none.")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimisation steps.")] = None,
    batch: Annotated[int | None, typer.Option(help="Poses per step.")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
    noise: Annotated[float | None, typer.Option(help="2D input noise, in units of the 2D scale.")] = None,
    bone_ratios: Annotated[
        str | None,
        typer.Option(
            help="Absolute 3D bone ratios: a template name (infant) or file, or a JSON {bone: length}; "
            "default: the 2D data's 90th-percentile ratios (measured better on synth infants)."
        ),
    ] = None,
    bone_weight: Annotated[float | None, typer.Option(help="Weight of the bone-ratio prior.")] = None,
    sign_weight: Annotated[
        float | None, typer.Option(help="Infant views: weight of the lying-on-a-mat prior (no joint behind the torso).")
    ] = None,
    limits_weight: Annotated[
        float | None,
        typer.Option(help="Weight of the knee/hip joint limits (depth-sign prior; default 10 upright, 0 infant)."),
    ] = None,
    body_length: Annotated[
        float | None, typer.Option(help="Assumed head-to-ankle length in metres (default 0.55 infant, 1.65 upright).")
    ] = None,
    supervised: Annotated[
        bool | None, typer.Option(help="Learn from synth 3D ground truth instead (the supervised upper bound).")
    ] = None,
    hidden: Annotated[int | None, typer.Option(help="Width of the residual MLP.")] = None,
    window: Annotated[
        int | None,
        typer.Option(
            help="Frames the lifter sees: 1 per frame; W > 1 the past W - 1 too (default 9 upright, 1 infant)."
        ),
    ] = None,
    roll_invariant: Annotated[
        bool | None,
        typer.Option(help="The network sees each pose turned so its trunk points up (roll invariant; default on)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for initialisation, batches and views.")] = None,
    ema: Annotated[
        float | None,
        typer.Option(
            help="Decay of the saved moving average of the weights (default 0.999 infant, 0 upright: the last weights)."
        ),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress lines.")] = False,
) -> None:
    """Learn 3D from 2D keypoints without 3D labels (lift-reproject-lift cycle with a 2D pose prior).

    Options not given keep the defaults of trainer.lifter_train.LifterTrainConfig and tpt_live.lifter.LifterConfig.
    """

    from tpt_live.errors import InputError
    from tpt_live.lifter import ADULT_BODY_LENGTH_M, INFANT_BODY_LENGTH_M, UPRIGHT_WINDOW, LifterConfig
    from trainer.lifter_train import LifterTrainConfig, load_bone_ratios, load_sequences
    from trainer.lifter_train import train_lifter as run_training

    if window is not None and window < 1:
        raise InputError(f"--window {window} must be at least 1 (frames the lifter sees)")
    if body_length is not None and not 0 < body_length < math.inf:
        raise InputError(f"--body-length {body_length} must be a positive length in metres")
    output_folder(out, "--out")
    set_threads(threads)
    cfg = LifterTrainConfig(**given(
        steps=steps, batch=batch, lr=lr, views=views, prior=prior, noise=noise, supervised=supervised, seed=seed,
        ema=ema, bone_ratios=load_bone_ratios(bone_ratios) if bone_ratios else None, w_bone=bone_weight,
        w_sign=sign_weight, w_limits=limits_weight,
    ))  # fmt: skip
    length = body_length or (INFANT_BODY_LENGTH_M if cfg.views == "infant" else ADULT_BODY_LENGTH_M)
    window = window or (UPRIGHT_WINDOW if cfg.views == "upright" and not cfg.supervised else 1)
    model_cfg = LifterConfig(**given(hidden=hidden, roll_invariant=roll_invariant), window=window, body_length_m=length)
    seqs = load_sequences(poses)

    def show(row: dict) -> None:
        if not quiet:
            typer.echo(" ".join(f"{k}={v}" for k, v in row.items()), err=True)

    path = run_training(seqs, out, cfg, model_cfg, on_log=show)
    typer.echo(f"lifter: {path}", err=True)


def mocap(
    files: Annotated[
        list[str],
        typer.Argument(help="BVH files, ASF/AMC motions (the .amc; its .asf beside it) or DeepMimic motions."),
    ],
    out: Annotated[str, typer.Option("--out", "-o", help="Folder for <clip>_az<A>_el<E>.json (created if needed).")],
    views: Annotated[
        str, typer.Option(help="Camera preset: upright (4 azimuths, 10 deg down) or ring (16).")
    ] = "upright",
    azimuth: Annotated[
        list[float] | None,
        typer.Option(help="Azimuths in degrees (0: in front, 90: at the left); replaces the preset."),
    ] = None,
    elevation: Annotated[float, typer.Option(help="Elevation in degrees with --azimuth (> 0 looks down).")] = 10.0,
    distance: Annotated[float, typer.Option(help="Camera distance to the pelvis in metres with --azimuth.")] = 5.0,
    fps: Annotated[float, typer.Option(help="Keep about this frame rate (every k-th frame); 0 keeps all.")] = 30.0,
    unit: Annotated[
        float | None, typer.Option(help="Metres per file unit; default: the one of m, cm, inch, CMU giving an adult.")
    ] = None,
    up: Annotated[str, typer.Option(help="Vertical axis of the file: y or z.")] = "y",
    size: Annotated[str, typer.Option(help="Image size WIDTHxHEIGHT of the virtual cameras.")] = "640x480",
) -> None:
    """Film motion capture with virtual cameras into keypoint-only synth JSON (for train-lifter, evaluate)."""
    from tpt_live.errors import InputError
    from tpt_live.mocap import VIEW_PRESETS, View, import_mocap
    from tpt_live.synth import parse_size

    if azimuth:
        cams = tuple(View(a, elevation, distance) for a in azimuth)
    elif views in VIEW_PRESETS:
        cams = VIEW_PRESETS[views]
    else:
        raise InputError(f"views {views!r} is not one of {tuple(VIEW_PRESETS)} (or give --azimuth)")
    output_folder(out, "--out")
    if fps < 0:
        raise InputError(f"--fps {fps} must be >= 0 (0 keeps every frame)")
    written = import_mocap(files, out, cams, fps or None, unit, up, parse_size(size))
    typer.echo(f"wrote {len(written)} clips ({len(files)} files x {len(cams)} views) to {out}", err=True)
