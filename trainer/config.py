"""Training settings: `TrainConfig` (every default written once, here) and the adaptation defaults that apply
when training starts from a trained model (`--init`; `trainer.recipe.resolve_recipe` layers them)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tpt_live.errors import InputError


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000  # optimisation steps (per rank)
    batch: int = 16  # pairs per step and rank
    lr: float = 2e-4  # Adam learning rate of the regressor
    lr_decoder: float = 5e-4  # Adam learning rate of the decoder
    decoder_widths: tuple[int, ...] = (32, 64, 128)  # the decoder U-Net's channels per level (trainer.decoder)
    decoder_init: str | None = None  # start the decoder from a run's decoder.safetensors, or "default" (shipped)
    anchor_weight: float = 0.5  # weight of the anchor-link loss (0 disables it)
    boundary_weight: float = 1.0  # weight of the boundary loss (0 disables it)
    keep_weight: float = 0.0  # weight of the L1 to the starting model's keypoints on the same frames (--init)
    freeze_norm: bool = False  # batch norms keep their running statistics (normalise with them, never update)
    freeze_steps: int = 300  # steps at the start during which only the decoder learns (template fixed)
    coarse_steps: int = 0  # steps during which all parts share one (mean) affine
    blend_steps: int = 0  # steps over which parts then become free
    sigma_start: float = 1.6  # template width multiplier at step 0 ...
    sigma_steps: int = 1500  # ... narrowing linearly to 1 over these steps
    mask_sigma: float = 1.8  # width multiplier of the region blanked out of the appearance frame
    mask_appearance: bool = False  # blank the appearance frame's own figure (see trainer.decoder)
    clip_grad: float = 1.0  # max gradient norm
    bf16: bool = False  # bf16 autocast (CUDA: fp16/bf16 AMP; CPU: bf16 where supported, slow without AMX)
    seed: int = 0  # sampling and initialisation seed (rank is added)
    log_every: int = 50  # steps between metric lines
    grid_every: int = 500  # steps between PNG grids and the template-dependence diagnostic
    ckpt_every: int = 500  # steps between checkpoints
    vgg_weights: str | None = None  # torchvision VGG-19 weights file for the perceptual loss
    perceptual: str = "none"  # "effnet": EfficientNet-Lite0 early-block feature L1 (trainer.perceptual)
    background: bool = False  # weight the reconstruction by the foreground (trainer.background)
    bg_threshold: float = 0.06  # colour difference to the background that still counts as background
    gap_s: tuple[float, float] | None = None  # pair frame gap in seconds (None: any two frames)
    min_moving: float = 0.0  # redraw pairs with less than this share of changed pixels
    window_s: float = 0.0  # located scenes: seconds of video cut through one window (0: one per clip)
    stabilise: bool = False  # with window_s: take the camera's motion out of each span (trainer.stabilise)
    minutes: float | None = None  # stop after this many minutes of training (checkpoint written)
    probe_frames: int = 32  # frames of the user's scenes for the quality signals and the before/after sheet
    init_rotation: float = 0.0  # turn the starting pose by this many degrees (screen-counterclockwise; trainer.orient)
    flip_axis: str = "auto"  # mirror pairs across x or y; auto: x, or y when init_rotation is nearer +-90 than 0/180

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.batch <= 0:
            raise InputError(f"steps ({self.steps}) and batch ({self.batch}) must be positive")
        if self.lr <= 0 or self.lr_decoder <= 0:
            raise InputError("learning rates must be positive")
        object.__setattr__(self, "decoder_widths", tuple(self.decoder_widths))  # a recipe's JSON list
        if not self.decoder_widths or min(self.decoder_widths) < 1:
            raise InputError(f"decoder_widths {self.decoder_widths} must be one or more positive channel counts")
        if self.keep_weight < 0:
            raise InputError(f"--keep-weight {self.keep_weight} must be >= 0")
        if self.minutes is not None and self.minutes <= 0:
            raise InputError(f"--minutes {self.minutes} must be positive")
        if self.ckpt_every < 1 or self.log_every < 1 or self.grid_every < 1:
            raise InputError(f"--ckpt-every {self.ckpt_every} (and the log and grid intervals) must be 1 or more")
        if min(self.freeze_steps, self.coarse_steps, self.blend_steps, self.sigma_steps) < 0:
            raise InputError("--freeze-steps, --coarse-steps, --blend-steps and --sigma-steps must be >= 0")
        if min(self.anchor_weight, self.boundary_weight) < 0:
            raise InputError("--anchor-weight and --boundary-weight must be >= 0")
        if not math.isfinite(self.init_rotation):
            raise InputError(f"--init-rotation {self.init_rotation} must be a number of degrees")
        if self.flip_axis not in ("auto", "x", "y"):
            raise InputError(f"--flip-axis {self.flip_axis!r}: use auto, x or y")
        if self.window_s < 0:
            raise InputError(f"window_s {self.window_s} must be >= 0 (0: one located window per clip)")
        if self.perceptual not in ("none", "effnet"):
            raise InputError(f"--perceptual {self.perceptual!r}: use none or effnet")
        if self.perceptual != "none" and self.vgg_weights:
            raise InputError("pick one perceptual loss: --perceptual effnet or --vgg-weights FILE")


# Defaults when training starts from a trained model (`--init`): adapting it to the user's own footage.
ADAPTATION: dict = {
    "freeze_steps": 100,  # the decoder is new (model files do not hold it): a short decoder-only warm-up
    "sigma_start": 1.0,  # the model already fits the template at its true width: no wide start
    "lr": 2e-4,  # the regressor's rate as in training from scratch
    "lr_decoder": 1e-3,  # a fresh decoder learns faster than it would from scratch alongside the regressor
    "background": True,  # real footage: the static background must not explain the image
    "gap_s": (0.2, 2.0),  # pairs 0.2-2 s apart: the subject moved, the light did not change
    "min_moving": 0.002,  # skip pairs in which (almost) nothing moved
    "ckpt_every": 200,
    "freeze_norm": True,  # batches of one clip's crops must not replace the batch norms' statistics (measured)
    "window_s": 3.0,  # located video: one crop window per 3 s, following a moving baby or camera (measured)
}
# With `--init default`: the decoder starts from the one shipped beside the default model (trained on synthetic
# scenes with that model's regressor frozen; recipes/decoder.json), so a short warm-up is enough, and the
# regressor learns at half the rate (with a trained decoder it otherwise drifts on hard clips; measured).
SHIPPED_DECODER: dict = {"decoder_init": "default", "freeze_steps": 20, "lr": 1e-4}
ADAPTATION_MINUTES = 10.0  # --init without --steps or --minutes trains this long
UNBOUNDED_STEPS = 10**9  # --minutes without --steps


def adaptation_layer(adapt: bool, chosen: dict, shipped_decoder: bool = False) -> dict:
    """Settings that go under the recipe and the options: `ADAPTATION` when adapting (`--init`), with
    `SHIPPED_DECODER` over it when the shipped decoder fits the starting model (`shipped_decoder`), and a time
    bound without a step limit when `minutes` is chosen (or adapting) but `steps` is not."""
    layer = {**ADAPTATION, **(SHIPPED_DECODER if shipped_decoder else {})} if adapt else {}
    if "steps" not in chosen and ("minutes" in chosen or adapt):
        layer["steps"] = UNBOUNDED_STEPS
        if adapt and "minutes" not in chosen:
            layer["minutes"] = ADAPTATION_MINUTES
    return layer
