"""The training loop: pairs -> regressor -> warped template -> decoder -> losses; checkpoints, logs.

Scales with `torchrun` (DistributedDataParallel; gloo on CPU, nccl on CUDA): every rank draws its own
pairs, rank 0 writes checkpoints, metrics and grids.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn

from tpt_live.checkpoint import load_model, resolve_device, save_model
from tpt_live.model import ModelConfig, TptModel, normalise, warp_template
from tpt_live.template import load_template
from trainer.data import PairSampler
from trainer.decoder import Decoder, paint_parts, part_colours
from trainer.losses import Vgg19Relu32, anchor_loss, boundary_loss, reconstruction_loss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000  # optimisation steps (per rank)
    batch: int = 16  # pairs per step and rank
    lr: float = 2e-4  # Adam learning rate of the regressor
    lr_decoder: float = 5e-4  # Adam learning rate of the decoder
    anchor_weight: float = 0.5  # weight of the anchor-link loss (0 disables it)
    boundary_weight: float = 1.0  # weight of the boundary loss (0 disables it)
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

    def __post_init__(self) -> None:
        from tpt_live.errors import InputError

        if self.steps <= 0 or self.batch <= 0:
            raise InputError(f"steps ({self.steps}) and batch ({self.batch}) must be positive")
        if self.lr <= 0 or self.lr_decoder <= 0:
            raise InputError("learning rates must be positive")


class TrainModule(nn.Module):
    """Model + decoder; `forward` returns the loss terms of one batch of pairs."""

    maps: Tensor  # (K, S, S) training template at the current width
    mask_maps: Tensor  # (K, S, S) wider template for the appearance mask

    def __init__(self, model: TptModel, cfg: TrainConfig) -> None:
        super().__init__()
        self.model = model
        self.decoder = Decoder(model.template.num_parts)
        self.cfg = cfg
        self.vgg = Vgg19Relu32(cfg.vgg_weights) if cfg.vgg_weights else None
        self.register_buffer("maps", model.maps.clone(), persistent=False)
        self.register_buffer("mask_maps", model.maps.clone(), persistent=False)
        self.sigma = -1.0

    def set_sigma(self, scale: float) -> None:
        """Re-render the training template at `scale` x the part widths (cheap, done rarely)."""
        scale = round(scale, 2)
        if scale == self.sigma:
            return
        s = self.model.cfg.input_size
        tpl = self.model.template
        self.maps.copy_(torch.from_numpy(tpl.render(s, scale)))
        self.mask_maps.copy_(torch.from_numpy(tpl.render(s, scale * self.cfg.mask_sigma)))
        self.sigma = scale

    def forward(self, x: Tensor, y: Tensor, freedom: float, shuffle: bool = False) -> dict[str, Tensor]:
        ax = _blend(self.model.regressor(normalise(x)).float(), freedom)
        with torch.no_grad():  # the appearance frame's own pose only places its mask and part colours
            ay = _blend(self.model.regressor(normalise(y)).float(), freedom)
        with torch.autocast(x.device.type, enabled=False):
            tx = warp_template(self.maps, ax)
            with torch.no_grad():
                if self.cfg.mask_appearance:
                    mask = warp_template(self.mask_maps, ay).sum(1, keepdim=True).clamp(0, 1)
                else:
                    mask = torch.zeros_like(x[:, :1])
                colours = part_colours(y, warp_template(self.maps, ay))
        if shuffle:
            tx = tx.roll(1, 0)
        recon = self.decoder(y, mask, tx, paint_parts(tx, colours)).float()
        pose = self.model.read_out(ax)
        s = self.model.cfg.input_size
        rec = reconstruction_loss(x, recon, self.vgg)
        anc = anchor_loss(pose.anchors, self.model.links, s)
        bnd = boundary_loss(pose.anchors, self.model.anchor_mask, s)
        total = rec + self.cfg.anchor_weight * anc + self.cfg.boundary_weight * bnd
        return {"loss": total, "rec": rec, "anchor": anc, "boundary": bnd, "recon": recon.detach(),
                "template": tx.detach(), "mask": mask, "keypoints": pose.keypoints.detach()}  # fmt: skip


def _blend(affines: Tensor, freedom: float) -> Tensor:
    """Coarse phase: with freedom 0 every part takes the mean affine; 1 leaves the parts free."""
    if freedom >= 1.0:
        return affines
    mean = affines.mean(1, keepdim=True)
    return mean + freedom * (affines - mean)


def _schedules(cfg: TrainConfig, step: int) -> tuple[float, float]:
    freedom = min(max((step - cfg.coarse_steps) / max(cfg.blend_steps, 1), 0.0), 1.0)
    sigma = cfg.sigma_start + (1.0 - cfg.sigma_start) * min(step / max(cfg.sigma_steps, 1), 1.0)
    return freedom, sigma


def _dist_setup(device: str) -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device).type
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    if device == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device(device)


def train(
    scenes: list,
    out_dir: Path,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    device: str = "auto",
    resume: bool = False,
    validate: Callable[[TptModel], dict] | None = None,
    eval_every: int = 500,
    on_log: Callable[[dict], None] | None = None,
    init: Path | None = None,
) -> dict:
    """Train and write `out_dir`/{model.safetensors, last.pt, metrics.jsonl, grid_*.png}; returns final metrics."""
    from trainer.grid import save_grid

    rank, world, dev = _dist_setup(device)
    torch.manual_seed(cfg.seed)
    if init is not None:  # fine-tune: start from a model file (its config and template win)
        model = load_model(init).train()
        log.info("initialised from %s", init)
    else:
        model = TptModel(model_cfg, load_template(model_cfg.template))
    module = TrainModule(model, cfg).to(dev)
    opt = torch.optim.Adam(
        [{"params": model.parameters(), "lr": cfg.lr}, {"params": module.decoder.parameters(), "lr": cfg.lr_decoder}]
    )
    start = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    last = out_dir / "last.pt"
    if resume and last.exists():
        state = torch.load(last, map_location=dev, weights_only=True)
        module.model.load_state_dict(state["model"])
        module.decoder.load_state_dict(state["decoder"])
        opt.load_state_dict(state["optim"])
        start = int(state["step"])
        log.info("resumed from %s at step %d", last, start)
    net: nn.Module = module
    if world > 1:
        net = nn.parallel.DistributedDataParallel(module, device_ids=[dev.index] if dev.type == "cuda" else None)
    sampler = PairSampler(scenes, seed=cfg.seed + 1000 * rank + start)
    amp_dtype = torch.bfloat16 if (dev.type == "cpu" or torch.cuda.is_bf16_supported()) else torch.float16
    autocast = (lambda: torch.autocast(dev.type, dtype=amp_dtype)) if cfg.bf16 else nullcontext
    metrics_file = open(out_dir / "metrics.jsonl", "a") if rank == 0 else None  # noqa: SIM115
    meta = {"train_config": dataclasses.asdict(cfg), "world_size": world, "frames": sampler.num_frames}
    final: dict = {}
    t0, seen = time.time(), 0
    # rank 0: steps with a non-zero boundary loss since the metric line at step `logged` (counted on the
    # device, so the loop does not wait for it)
    active, logged = torch.zeros((), dtype=torch.long, device=dev), start
    module.train()
    try:
        for step in range(start, cfg.steps):
            freedom, sigma = _schedules(cfg, step)
            module.set_sigma(sigma)
            opt.param_groups[0]["lr"] = 0.0 if step < cfg.freeze_steps else cfg.lr
            x, y = (t.to(dev, non_blocking=True) for t in sampler.sample(cfg.batch))
            with autocast():
                out = net(x, y, freedom)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            nn.utils.clip_grad_norm_(module.parameters(), cfg.clip_grad)
            opt.step()
            seen += cfg.batch * world
            done = step + 1
            if rank != 0:
                continue
            active += out["boundary"].detach() > 0
            row: dict = {}
            if done % cfg.log_every == 0 or done == cfg.steps:
                rate = seen / max(time.time() - t0, 1e-9)
                row = {"step": done, "images_per_s": round(rate, 1), "freedom": freedom, "sigma": round(sigma, 3)}
                row |= {k: round(float(out[k].detach()), 5) for k in ("loss", "rec", "anchor", "boundary")}
                row["boundary_active"] = round(int(active) / (done - logged), 3)  # share of steps the safeguard acted
                active.zero_()
                logged = done
                row["eta_s"] = round((cfg.steps - done) * cfg.batch * world / max(rate, 1e-9))
            if done % cfg.grid_every == 0 or done == cfg.steps:
                with torch.no_grad(), autocast():
                    shuffled = module(x, y, freedom, shuffle=True)
                rec = float(out["rec"].detach())
                gain = (float(shuffled["rec"]) - rec) / max(rec, 1e-9)
                row = row or {"step": done}
                row["template_gain"] = round(gain, 4)
                save_grid(out_dir / f"grid_{done:06d}.png", x, y, out)
            if validate is not None and (done % eval_every == 0 or done == cfg.steps):
                model.eval()
                row = row or {"step": done}
                row |= {f"val_{k}": v for k, v in validate(model).items()}
                model.train()
            if done % cfg.ckpt_every == 0 or done == cfg.steps:
                _checkpoint(module, opt, done, out_dir, meta | {"last_metrics": row or final})
            if row:
                final = row
                assert metrics_file is not None
                metrics_file.write(json.dumps(row) + "\n")
                metrics_file.flush()
                if on_log is not None:
                    on_log(row)
    except KeyboardInterrupt:
        if rank == 0:
            log.warning("interrupted: writing a checkpoint at step %d", step)
            _checkpoint(module, opt, step, out_dir, meta | {"last_metrics": final, "interrupted": True})
        raise
    finally:
        if metrics_file is not None:
            metrics_file.close()
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    return final


def _checkpoint(module: TrainModule, opt: torch.optim.Optimizer, step: int, out_dir: Path, meta: dict) -> None:
    state = {
        "model": module.model.state_dict(),
        "decoder": module.decoder.state_dict(),
        "optim": opt.state_dict(),
        "step": step,
    }
    tmp = out_dir / "last.pt.tmp"
    torch.save(state, tmp)
    tmp.replace(out_dir / "last.pt")
    save_model(module.model, out_dir / "model.safetensors", metrics=meta.get("last_metrics"), extra={"train": meta})
