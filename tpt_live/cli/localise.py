"""`tpt-live train-localiser` and `tpt-live pretrain`: options -> their configs -> trainer.localiser_train and
trainer.part_pretrain."""

from __future__ import annotations

from typing import Annotated

import typer

from tpt_live.cli.common import given, output_folder

# options both trainers share
Backgrounds = Annotated[
    list[str] | None,
    typer.Option(
        "--backgrounds",
        help="Real footage with no infant in it (videos, photos or image folders; repeat the option): drawn behind"
        " a share of the synthetic infants.",
    ),
]
Look = Annotated[
    str | None,
    typer.Option(
        help="Synthetic look: plain, varied, random, mixed (plain and varied in turn) or mixed_random (plain,"
        " varied and random in turn)."
    ),
]
World = Annotated[
    str | None, typer.Option(help="Synthetic world: wide, or room (also filmed across the room, a wall behind).")
]
RealShare = Annotated[
    float | None, typer.Option(help="With --backgrounds: share of the scenes drawn over a real frame.")
]
Propped = Annotated[
    float | None, typer.Option(help="Share of prone bodies propped on forearms or hands (synth --propped).")
]
Sitting = Annotated[
    float | None, typer.Option(help="Share of bodies on their back drawn sitting up (synth --sitting).")
]


def train_localiser(
    out: Annotated[str, typer.Option("--out", "-o", help="Run folder; writes localiser.safetensors + .json there.")],
    clips: Annotated[int | None, typer.Option(help="Wide-world synthetic scenes to train on.")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimiser steps.")] = None,
    batch: Annotated[int | None, typer.Option(help="Frames per step.")] = None,
    look: Look = None,
    world: World = None,
    backgrounds: Backgrounds = None,
    real_share: RealShare = None,
    propped: Propped = None,
    sitting: Sitting = None,
    reg_sigma: Annotated[
        float | None,
        typer.Option(help="Train the regressions on the cells around the centre (Gaussian, cells; 0: its cell only)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the data offset and of the training.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
) -> None:
    """Train the localisation stage (where the body is, how big, which way the head points) on wide-world
    synthetic scenes; `tpt-live track --locate` uses it. Unset options keep
    trainer.localiser_train.LocaliserTrainConfig's defaults (the shipped file's recipe)."""
    from trainer.localiser_train import LocaliserTrainConfig
    from trainer.localiser_train import train_localiser as run_training

    output_folder(out, "--out")
    metrics = run_training(
        LocaliserTrainConfig(
            out=out,
            **given(clips=clips, steps=steps, batch=batch, look=look, world=world, seed=seed, threads=threads),
            **given(backgrounds=tuple(backgrounds) if backgrounds else None, real_share=real_share),
            **given(propped=propped, sitting=sitting, reg_sigma=reg_sigma),
        )
    )
    typer.echo(" ".join(f"{k}={v:.3f}" for k, v in metrics.items()), err=True)


def pretrain(
    out: Annotated[str, typer.Option("--out", "-o", help="Run folder; writes model.safetensors + .json there.")],
    clips: Annotated[int | None, typer.Option(help="Wide-world synthetic scenes to train on.")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimiser steps.")] = None,
    batch: Annotated[int | None, typer.Option(help="Located inputs per step.")] = None,
    look: Look = None,
    wild_turns: Annotated[
        float | None, typer.Option(help="Share of inputs turned anywhere (teaches the model the localiser's misses).")
    ] = None,
    stability: Annotated[
        float | None, typer.Option(help="Weight of the agreement of two noisy views of a crop (steady joints).")
    ] = None,
    world: World = None,
    flexion: Annotated[
        float | None, typer.Option(help="Share of scenes in a young infant's flexed resting posture (synth --flexion).")
    ] = None,
    hands: Annotated[
        float | None, typer.Option(help="Share of arms held with the hand at the face or chest (synth --hands).")
    ] = None,
    side_gravity: Annotated[
        bool | None,
        typer.Option("--side-gravity/--no-side-gravity", help="Side-lying bodies rest their limbs (synth option)."),
    ] = None,
    propped: Propped = None,
    sitting: Sitting = None,
    seats: Annotated[
        float | None, typer.Option(help="Share of bodies on their back in a seat, none in plain looks (synth --seats).")
    ] = None,
    backgrounds: Backgrounds = None,
    real_share: RealShare = None,
    input_size: Annotated[int | None, typer.Option(help="Part model input side, pixels (a multiple of 32).")] = None,
    backbone: Annotated[
        str | None, typer.Option(help="Part model trunk: effnet (EfficientNet-Lite0) or effnet-lite1 (deeper).")
    ] = None,
    head: Annotated[
        str | None, typer.Option(help="Part model head: dense, or spatial (a spatial softmax places each part).")
    ] = None,
    swap_tolerant: Annotated[
        bool | None,
        typer.Option(
            "--swap-tolerant/--no-swap-tolerant",
            help="Score each input's joints against its labels or their left/right swap, whichever is closer.",
        ),
    ] = None,
    peak_radius: Annotated[
        float | None,
        typer.Option(help="Run-time decoding: read each part within this many grid cells of its peak (0: all)."),
    ] = None,
    heatmap: Annotated[
        float | None, typer.Option(help="Weight of each part's grid softmax against its labelled centre (0: off).")
    ] = None,
    heatmap_sigma: Annotated[float | None, typer.Option(help="That target's Gaussian, grid cells.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the data offset and of the training.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    device: Annotated[str | None, typer.Option(help="Where the network trains: cpu, or cuda on a GPU.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes that render scenes and augment batches (0: the main one).")
    ] = None,
    minutes: Annotated[
        float | None, typer.Option(help="Stop training after this many minutes, then validate and save.")
    ] = None,
    erase: Annotated[
        float | None, typer.Option(help="Share of inputs with 1-3 random rectangles painted over (labels kept).")
    ] = None,
    average_from: Annotated[
        float | None,
        typer.Option(help="Save the average of the weights of every step after this share of the steps (0: last)."),
    ] = None,
) -> None:
    """Pretrain the 128-px part model (EfficientNet-Lite0 from ImageNet) on synthetic ground truth, in the
    located crops `tpt-live track` gives it (docs/TRAINING.md). `tpt-live train --init RUN/model.safetensors`
    then adapts it to unlabelled footage. Unset options keep trainer.part_pretrain.PretrainConfig's defaults
    (the shipped model's recipe)."""
    from trainer.part_pretrain import PretrainConfig
    from trainer.part_pretrain import pretrain as run_pretraining

    output_folder(out, "--out")
    metrics = run_pretraining(
        PretrainConfig(
            out=out,
            **given(
                clips=clips,
                steps=steps,
                batch=batch,
                look=look,
                world=world,
                flexion=flexion,
                hands=hands,
                side_gravity=side_gravity,
                propped=propped,
                sitting=sitting,
                seats=seats,
                wild_turns=wild_turns,
                stability=stability,
                backgrounds=tuple(backgrounds) if backgrounds else None,
                real_share=real_share,
                input_size=input_size,
                backbone=backbone,
                head=head,
                swap_tolerant=swap_tolerant,
                peak_radius=peak_radius,
                heatmap=heatmap,
                heatmap_sigma=heatmap_sigma,
                seed=seed,
                threads=threads,
                device=device,
                workers=workers,
                minutes=minutes,
                erase=erase,
                average_from=average_from,
            ),
        )
    )
    typer.echo(" ".join(f"{k}={v:.3f}" for k, v in metrics.items()), err=True)
