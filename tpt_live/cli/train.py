"""`tpt-live train`: options -> `TrainConfig` (over an optional recipe file) -> `trainer.loop.train`.

Options left unset keep the value of the recipe (`--recipe FILE`) or, without one, of `TrainConfig`
and `ModelConfig`: the config classes hold every default, once.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tpt_live.cli.common import given


def train(
    data: Annotated[list[str], typer.Argument(help="Videos, folders of videos, or image folders (one scene each).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Run folder: checkpoints, metrics.jsonl, grids.")],
    recipe: Annotated[
        str | None, typer.Option(help="Recipe file (JSON: model + train settings); options given here override it.")
    ] = None,
    size: Annotated[int | None, typer.Option(help="Model input size S.")] = None,
    template: Annotated[str | None, typer.Option(help="Template: infant, arms_down, tpose or a JSON file ")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimisation steps, per process.")] = None,
    batch: Annotated[int | None, typer.Option(help="Frame pairs per step, per process.")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate of the regressor.")] = None,
    lr_decoder: Annotated[float | None, typer.Option(help="Adam learning rate of the decoder.")] = None,
    anchor_weight: Annotated[float | None, typer.Option(help="Anchor-link loss weight, 0 disables.")] = None,
    boundary_weight: Annotated[float | None, typer.Option(help="Boundary loss weight, 0 disables.")] = None,
    freeze_steps: Annotated[int | None, typer.Option(help="First steps in which only the decoder learns.")] = None,
    coarse_steps: Annotated[int | None, typer.Option(help="Steps with one shared affine for all parts.")] = None,
    blend_steps: Annotated[int | None, typer.Option(help="Steps over which the parts then become free.")] = None,
    sigma_steps: Annotated[int | None, typer.Option(help="Steps over which the template narrows to its width.")] = None,
    mask_appearance: Annotated[
        bool | None, typer.Option(help="Blank the appearance frame's own figure before the decoder sees it.")
    ] = None,
    roi: Annotated[str | None, typer.Option(help="Fixed region x,y,w,h in source pixels (made square).")] = None,
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
    amp: Annotated[bool | None, typer.Option(help="Mixed precision (use on CUDA; slow on CPUs without AMX).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for initialisation and pair sampling.")] = None,
    ckpt_every: Annotated[int | None, typer.Option(help="Steps between checkpoints.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Learn body keypoints from unlabelled videos (no annotations). Scales with `torchrun`.

    Options not given keep the --recipe value, else the default of trainer.loop.TrainConfig / ModelConfig
    (recipes/default.json is the shipped model's recipe).
    """
    from pathlib import Path

    import torch

    from tpt_live.crop import parse_roi
    from trainer.data import load_scenes
    from trainer.loop import train as run_training
    from trainer.recipe import load_recipe, resolve_recipe
    from trainer.validate import synth_validator

    if threads:
        torch.set_num_threads(threads)
    base = load_recipe(recipe) if recipe else None
    model_cfg, cfg = resolve_recipe(
        base,
        model=given(input_size=size, template=template),
        train=given(
            steps=steps, batch=batch, lr=lr, lr_decoder=lr_decoder, anchor_weight=anchor_weight,
            boundary_weight=boundary_weight, freeze_steps=freeze_steps, coarse_steps=coarse_steps,
            blend_steps=blend_steps, sigma_steps=sigma_steps, mask_appearance=mask_appearance, bf16=amp,
            seed=seed, ckpt_every=ckpt_every, vgg_weights=vgg_weights,
        ),
        init=init,
    )  # fmt: skip
    run_dir = Path(out)
    size_px = model_cfg.input_size
    scenes = load_scenes(data, size_px, parse_roi(roi) if roi else None, cache_dir=run_dir / "cache")
    validate = synth_validator(val, size_px) if val else None
    with _TrainDisplay(cfg.steps, quiet) as display:
        final = run_training(
            scenes, run_dir, model_cfg, cfg, device, resume, validate, on_log=display.update,
            init=Path(init) if init else None,
        )  # fmt: skip
    typer.echo(f"model: {run_dir / 'model.safetensors'}  last: {final}", err=True)


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
