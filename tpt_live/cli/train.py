"""`tpt-live train`: options -> `TrainConfig` (over an optional recipe file) -> `trainer.loop.train`.

Options left unset keep the value of the recipe (`--recipe FILE`) or, without one, of `TrainConfig`
and `ModelConfig`: the config classes hold every default, once.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tpt_live.cli.common import given, output_folder, set_threads


def train(
    data: Annotated[list[str], typer.Argument(help="Videos, folders of videos, or image folders (one scene each).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Run folder: checkpoints, metrics.jsonl, grids.")],
    recipe: Annotated[
        str | None, typer.Option(help="Recipe file (JSON: model + train settings); options given here override it.")
    ] = None,
    size: Annotated[int | None, typer.Option(help="Model input size S.")] = None,
    template: Annotated[str | None, typer.Option(help="Template: infant, arms_down, tpose or a JSON file ")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimisation steps, per process (with --init: no limit).")] = None,
    minutes: Annotated[
        float | None, typer.Option(help="Stop after this many minutes, checkpoint written (with --init: 10).")
    ] = None,
    batch: Annotated[int | None, typer.Option(help="Frame pairs per step, per process.")] = None,
    lr: Annotated[float | None, typer.Option(help="Regressor learning rate (--init default: 1e-4).")] = None,
    lr_decoder: Annotated[float | None, typer.Option(help="Adam learning rate of the decoder (--init: 1e-3).")] = None,
    anchor_weight: Annotated[float | None, typer.Option(help="Anchor-link loss weight, 0 disables.")] = None,
    boundary_weight: Annotated[float | None, typer.Option(help="Boundary loss weight, 0 disables.")] = None,
    freeze_norm: Annotated[
        bool | None, typer.Option(help="Batch norms keep the starting model's statistics (--init: on).")
    ] = None,
    keep_weight: Annotated[
        float | None, typer.Option(help="With --init: L1 weight keeping keypoints near the starting model's.")
    ] = None,
    freeze_steps: Annotated[
        int | None,
        typer.Option(
            help="First steps in which only the decoder learns (--init default: 20, its decoder shipped; "
            "other --init: 100)."
        ),  # fmt: skip
    ] = None,
    coarse_steps: Annotated[int | None, typer.Option(help="Steps with one shared affine for all parts.")] = None,
    blend_steps: Annotated[int | None, typer.Option(help="Steps over which the parts then become free.")] = None,
    sigma_steps: Annotated[int | None, typer.Option(help="Steps over which the template narrows to its width.")] = None,
    mask_appearance: Annotated[
        bool | None, typer.Option(help="Blank the appearance frame's own figure before the decoder sees it.")
    ] = None,
    background: Annotated[
        bool | None, typer.Option(help="Weight the reconstruction by the foreground (default off; --init: on).")
    ] = None,
    perceptual: Annotated[
        str | None, typer.Option(help="none or effnet: EfficientNet-Lite0 early-block feature loss (default none).")
    ] = None,
    gap: Annotated[
        str | None, typer.Option(help="Pair frame gap MIN,MAX in seconds, or `any` (default any; --init: 0.2,2).")
    ] = None,
    min_moving: Annotated[
        float | None, typer.Option(help="Redraw pairs with less than this share of changed pixels (--init: 0.002).")
    ] = None,
    roi: Annotated[str | None, typer.Option(help="Fixed region x,y,w,h in source pixels (made square).")] = None,
    head: Annotated[
        str, typer.Option(help="Where the subject's head points: up, right, down, left (frames turned, as track).")
    ] = "up",
    locate: Annotated[
        bool | None,
        typer.Option(
            help="Cut each scene through one window found by the localiser (as track --locate); default: on when "
            "the model (--init) was trained on located crops, as the shipped one, and no --roi / --head is given."
        ),
    ] = None,
    vgg_weights: Annotated[
        str | None, typer.Option(help="torchvision VGG-19 weights file: adds the relu3_2 perceptual loss.")
    ] = None,
    val: Annotated[
        str | None, typer.Option(help="`tpt-live synth` folder to report keypoint error on while training.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt.")] = False,
    force: Annotated[bool, typer.Option(help="Start over in a non-empty run folder (deletes its run files).")] = False,
    init: Annotated[
        str | None, typer.Option(help="Start from this model file, or `default` for the shipped model (adaptation).")
    ] = None,
    init_rotation: Annotated[
        float | None, typer.Option(help="Turn the starting pose (degrees, counterclockwise): 90 = head left.")
    ] = None,
    flip_axis: Annotated[
        str | None, typer.Option(help="Mirror pairs across x or y; auto: y when --init-rotation is near +-90.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    amp: Annotated[bool | None, typer.Option(help="Mixed precision (use on CUDA; slow on CPUs without AMX).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for initialisation and pair sampling.")] = None,
    ckpt_every: Annotated[int | None, typer.Option(help="Steps between checkpoints (--init: 200).")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Learn body keypoints from unlabelled videos (no annotations). Scales with `torchrun`.

    Options not given keep the --recipe value, else the default of trainer.config.TrainConfig / ModelConfig
    (recipes/tpt64.json is the recipe of the shipped unsupervised model, `--model tpt64`). With --init (e.g.
    `--init default`) it adapts a trained model to your own footage: the adaptation defaults of
    docs/TRAINING.md come under the recipe.
    """
    import dataclasses
    import os
    from pathlib import Path

    from tpt_live.checkpoint import resolve_model_file
    from tpt_live.crop import parse_roi
    from trainer.data import load_scenes
    from trainer.loop import check_run_dir
    from trainer.loop import train as run_training
    from trainer.recipe import load_recipe, resolve_recipe
    from trainer.validate import synth_validator

    set_threads(threads)
    init_path = resolve_model_file(init) if init else None
    base = load_recipe(recipe) if recipe else {"model": {}, "train": {}}
    options = given(
        steps=steps, minutes=minutes, batch=batch, lr=lr, lr_decoder=lr_decoder, anchor_weight=anchor_weight,
        boundary_weight=boundary_weight, keep_weight=keep_weight, freeze_norm=freeze_norm,
        freeze_steps=freeze_steps, coarse_steps=coarse_steps,
        blend_steps=blend_steps, sigma_steps=sigma_steps, mask_appearance=mask_appearance, bf16=amp,
        seed=seed, ckpt_every=ckpt_every, vgg_weights=vgg_weights, background=background, perceptual=perceptual,
        gap_s=_parse_gap(gap), min_moving=min_moving, init_rotation=init_rotation, flip_axis=flip_axis,
    )  # fmt: skip
    if gap is not None and gap.strip().lower() == "any":
        options["gap_s"] = None  # explicitly any two frames, over the adaptation default
    model_cfg, cfg = resolve_recipe(
        base, model=given(input_size=size, template=template), train=options, init=init_path
    )
    run_dir = Path(out)
    if os.environ.get("RANK", "0") == "0":  # under torchrun rank 0 decides; the others follow
        check_run_dir(run_dir, resume, force)
        output_folder(out, "--out")
    size_px = model_cfg.input_size
    roi_box = parse_roi(roi) if roi else None
    if locate is None:
        locate = model_cfg.framing == "located" and roi_box is None and head == "up"
    elif locate and model_cfg.framing != "located":  # it learns located crops, so track and evaluate locate for it
        model_cfg = dataclasses.replace(model_cfg, framing="located")
    scenes = load_scenes(data, size_px, roi_box, cache_dir=run_dir / "cache", head=head, locate=locate,
                         window_s=cfg.window_s, stabilise=cfg.stabilise)  # fmt: skip
    validate = synth_validator(val, size_px) if val else None
    with _TrainDisplay(cfg.steps, cfg.minutes, quiet) as display:
        summary = run_training(
            scenes, run_dir, model_cfg, cfg, device, resume, validate, on_log=display.update, init=init_path,
        )  # fmt: skip
    typer.echo(f"model: {run_dir / 'model.safetensors'}  last: {summary}", err=True)
    if "moved_mean_pct" in summary:
        typer.echo(
            f"keypoints moved {summary['moved_mean_pct']}% of the input on average (90% of them under "
            f"{summary['moved_p90_pct']}%) on {summary['probe_frames']} of your frames; "
            f"before/after: {summary['before_after']}",
            err=True,
        )
        for warning in summary["warnings"]:
            typer.echo(f"warning: {warning}", err=True)


def _parse_gap(text: str | None) -> tuple[float, float] | None:
    """`--gap MIN,MAX` seconds -> (MIN, MAX); None for not given or `any` (the caller handles `any`)."""
    from tpt_live.errors import InputError

    if text is None or text.strip().lower() == "any":
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--gap {text!r} must be MIN,MAX seconds (e.g. 0.2,2) or `any`") from None
    return lo, hi


class _TrainDisplay:
    """A rich progress bar fed by the trainer's metric rows: by steps, or by time with --minutes."""

    def __init__(self, steps: int, minutes: float | None, quiet: bool) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.by_time = minutes is not None
        counter = "{task.completed:.0f}/{task.total:.0f} s" if self.by_time else "{task.completed}/{task.total}"
        self.progress = None if quiet else Progress(
            TextColumn("[bold]train"), BarColumn(), TextColumn(counter),
            TimeRemainingColumn(), TextColumn("{task.description}"),
        )  # fmt: skip
        total = round(minutes * 60) if minutes is not None else steps
        self.task = self.progress.add_task("", total=total) if self.progress else None

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
        keys = ("step", "loss", "rec", "images_per_s", "template_gain", "bone_cv", "flip_err_pct", "val_err_pct")
        text = " ".join(f"{k}={row[k]}" for k in keys if k in row)
        if "eta_s" in row:
            text += f" eta={row['eta_s']}s"
        done = row.get("elapsed_s", 0.0) if self.by_time else row["step"]
        self.progress.update(self.task, completed=done, description=text)
