"""`tpt-live train-presence` and `train-posture`: options -> trainer configs -> the presence and posture trainers."""

from __future__ import annotations

from typing import Annotated

import typer

from tpt_live.cli.common import given, output_file, set_threads


def train_presence(
    out: Annotated[str, typer.Option("--out", "-o", help="Weights file to write (.safetensors + .json sidecar).")],
    clips: Annotated[int | None, typer.Option(help="Synthetic training clips (with and without an infant).")] = None,
    hard_clips: Annotated[
        int | None, typer.Option(help="Clips over procedural textures, cropped and augmented like other cameras.")
    ] = None,
    backgrounds: Annotated[
        list[str] | None,
        typer.Option(
            "--backgrounds",
            help="Real footage with no infant in it (videos or image folders; repeat the option): behind"
            " synthetic infants and as negatives.",
        ),
    ] = None,
    hard_world: Annotated[
        str | None,
        typer.Option(
            help="Synth world of the hard clips: default, wide, room (filmed across the room) or mixed (default, room)."
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the training frames.")] = None,
    widths: Annotated[str | None, typer.Option(help="Channels of the three convolutions, e.g. 16,32,64.")] = None,
    size: Annotated[int | None, typer.Option(help="Model input S the frames are letterboxed into.")] = None,
    seed: Annotated[int | None, typer.Option(help="First dataset seed of the training clips.")] = None,
    members: Annotated[
        int | None, typer.Option(help="Nets in the file, each on draws of its own seeds; their logits are averaged.")
    ] = None,
    sitting: Annotated[
        float | None, typer.Option(help="Share of the babies on their back drawn sitting up (synth --sitting).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress lines.")] = False,
) -> None:
    """Train the presence CNN (is an infant in view?) on synthetic scenes; `tpt-live monitor --presence` uses it.

    Unset options keep trainer.presence_train.PresenceTrainConfig's defaults (the shipped file's recipe: one
    net; `--members K` trains K on draws of their own seeds and averages their calibrated logits);
    `python benchmarks/presence_eval.py --weights OUT` measures it on held-out clips.
    """
    from pathlib import Path

    from tpt_live.errors import InputError
    from tpt_live.monitor.presence import save_presence
    from trainer.presence_train import PresenceTrainConfig, train_ensemble

    output_file(out, "--out")
    set_threads(threads)
    try:
        chans = tuple(int(c) for c in widths.split(",")) if widths else None
    except ValueError:
        chans = ()
    if chans is not None and (len(chans) != 3 or min(chans) < 1):
        raise InputError(f"--widths {widths}: expected three positive channel counts, e.g. 16,32,64")
    cfg = PresenceTrainConfig(
        **given(
            clips=clips,
            hard_clips=hard_clips,
            epochs=epochs,
            size=size,
            seed=seed,
            members=members,
            widths=chans,
            backgrounds=tuple(backgrounds) if backgrounds else None,
            hard_world=hard_world,
            sitting=sitting,
        )
    )

    def show(row: dict) -> None:
        if not quiet:
            typer.echo(" ".join(f"{k}={v}" for k, v in row.items()), err=True)

    path = save_presence(train_ensemble(cfg, on_log=show), Path(out))
    typer.echo(f"presence weights: {path}", err=True)


def train_posture(
    out: Annotated[str, typer.Option("--out", "-o", help="Weights file to write (.safetensors + .json sidecar).")],
    clips: Annotated[int | None, typer.Option(help="Synthetic training scenes (the infant in every posture).")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimiser steps.")] = None,
    seed: Annotated[int | None, typer.Option(help="Dataset seed of the training scenes.")] = None,
    members: Annotated[int | None, typer.Option(help="Nets in the file, member i on the scenes of seed + i.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress lines.")] = False,
) -> None:
    """Train the image posture classifier (supine, side, prone, or sitting up) on synthetic renders, in the windows
    the monitor's pose model sees; `tpt-live monitor --posture-net` uses it. Unset options keep
    trainer.posture_train.PostureTrainConfig's defaults."""
    from pathlib import Path

    from tpt_live.monitor.posture_image import save_posture
    from trainer.posture_train import PostureTrainConfig, train_ensemble

    output_file(out, "--out")
    set_threads(threads)
    cfg = PostureTrainConfig(**given(clips=clips, steps=steps, seed=seed, members=members))

    def show(row: dict) -> None:
        if not quiet:
            typer.echo(" ".join(f"{k}={v}" for k, v in row.items()), err=True)

    path = save_posture(train_ensemble(cfg, on_log=show), Path(out))
    typer.echo(f"posture weights: {path}", err=True)
