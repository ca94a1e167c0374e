"""`tpt-live train-lifter`: options -> `LifterTrainConfig` -> `trainer.lifter_train.train_lifter`."""

from __future__ import annotations

from typing import Annotated

import typer


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
