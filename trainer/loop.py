"""The training loop: pairs -> regressor -> warped template -> decoder -> losses; checkpoints, logs.

Scales with `torchrun` (DistributedDataParallel; gloo on CPU, nccl on CUDA): every rank draws its own
pairs, rank 0 writes checkpoints, metrics and grids. A run stops after `steps` or `minutes`, whichever
comes first, and ends with a before/after contact sheet of the user's frames (`RUN/before_after.png`)
and `RUN/summary.json` (label-free quality signals, how far the keypoints moved, warnings).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn

from tpt_live.checkpoint import file_digest, load_model, resolve_device, save_model
from tpt_live.errors import InputError
from tpt_live.model import EffnetRegressor, ModelConfig, TptModel, normalise, warp_template
from tpt_live.template import load_template
from trainer.background import pair_weight
from trainer.config import TrainConfig
from trainer.data import PairConfig, PairSampler, Scene
from trainer.decoder import Decoder, load_decoder, paint_parts, part_colours, save_decoder
from trainer.grid import save_grid
from trainer.losses import Vgg19Relu32, anchor_loss, boundary_loss, reconstruction_loss
from trainer.orient import rotate_model
from trainer.quality import QualityProbe, collapse_warnings, keypoint_shift_pct
from trainer.resume import resume_from

log = logging.getLogger(__name__)

_RUN_FILES = ("metrics.jsonl", "last.pt", "model.safetensors", "model.json", "summary.json", "before_after.png")


def check_run_dir(out_dir: Path, resume: bool, force: bool) -> None:
    """Refuse to reuse a run folder silently.

    A folder holding anything besides the frame cache needs `resume` (continue from last.pt, which must
    exist) or `force` (start over: the previous run's files are deleted, the cache is kept).
    """
    if resume and force:
        raise InputError("--resume and --force exclude each other: continue the run or start it over")
    if resume:
        if not (out_dir / "last.pt").is_file():
            raise InputError(f"--resume: {out_dir / 'last.pt'} does not exist, nothing to continue; drop --resume")
        return
    used = [p for p in out_dir.iterdir() if p.name != "cache"] if out_dir.is_dir() else []
    if used and not force:
        raise InputError(
            f"run folder {out_dir} is not empty (holds {used[0].name}): pass --resume to continue it, "
            "--force to start over in it, or pick a new --out"
        )
    for p in used:
        if p.name in _RUN_FILES or p.match("grid_*.png") or p.match("model_*.safetensors"):
            p.unlink()


class TrainModule(nn.Module):
    """Model + decoder; `forward` returns the loss terms of one batch of pairs."""

    maps: Tensor  # (K, S, S) training template at the current width
    mask_maps: Tensor  # (K, S, S) wider template for the appearance mask

    def __init__(self, model: TptModel, cfg: TrainConfig) -> None:
        super().__init__()
        self.model = model
        self.decoder = Decoder(model.template.num_parts, cfg.decoder_widths)
        self.cfg = cfg
        self.perceptual: nn.Module | None = None
        if cfg.vgg_weights:
            self.perceptual = Vgg19Relu32(cfg.vgg_weights)
        elif cfg.perceptual == "effnet":
            from trainer.perceptual import EffNetLite0Early

            self.perceptual = EffNetLite0Early()
        self.register_buffer("maps", model.maps.clone(), persistent=False)
        self.register_buffer("mask_maps", model.maps.clone(), persistent=False)
        self.sigma = -1.0
        # the starting model, frozen: adaptation may move the parts only as far as the images pay for
        self.teacher = copy.deepcopy(model).eval().requires_grad_(False) if cfg.keep_weight > 0 else None

    def train(self, mode: bool = True) -> TrainModule:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # its batch norms keep the starting model's statistics
        if self.cfg.freeze_norm:
            for m in self.model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

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

    def forward(
        self, x: Tensor, y: Tensor, bg: Tensor, freedom: float, shuffle: bool = False, frozen: bool = False
    ) -> dict[str, Tensor]:
        """The loss terms of one batch of pairs; `frozen`: the regressor runs without gradients (the
        decoder-only warm-up: its backward pass would be thrown away)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
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
        weight = pair_weight(x, y, bg, self.cfg.bg_threshold) if self.cfg.background else None
        rec = reconstruction_loss(x, recon, self.perceptual, weight)
        anc = anchor_loss(pose.anchors, self.model.links, s)
        bnd = boundary_loss(pose.anchors, self.model.anchor_mask, s)
        total = rec + self.cfg.anchor_weight * anc + self.cfg.boundary_weight * bnd
        keep = torch.zeros((), device=x.device)
        if self.teacher is not None:
            with torch.no_grad():
                start = self.teacher.poses(x).keypoints
            keep = (pose.keypoints - start).abs().sum(-1).mean() / s
            total = total + self.cfg.keep_weight * keep
        return {"loss": total, "rec": rec, "anchor": anc, "boundary": bnd, "keep": keep, "recon": recon.detach(),
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
    scenes: list[Scene],
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
    """Train and write `out_dir`/{model.safetensors, decoder.safetensors (+ .json), last.pt, metrics.jsonl, grid_*.png,
    before_after.png, summary.json}; returns the summary (the last metrics row, the quality signals, how far
    the keypoints moved, warnings)."""
    rank, world, dev = _dist_setup(device)
    torch.manual_seed(cfg.seed)
    if init is not None:  # fine-tune: start from a model file (its config and template win)
        model = load_model(init).train()
        log.info("initialised from %s", init)
    else:
        model = TptModel(model_cfg, load_template(model_cfg.template))
        if isinstance(model.regressor, EffnetRegressor):  # the pretrained backbone starts from ImageNet
            model.regressor.trunk.load_imagenet()
    before = copy.deepcopy(model).eval()  # for the before/after sheet
    if cfg.init_rotation and not resume:
        rotate_model(model, cfg.init_rotation)
        log.info("starting pose turned by %g degrees", cfg.init_rotation)
    module = TrainModule(model, cfg).to(dev)
    opt = torch.optim.Adam(
        [{"params": model.parameters(), "lr": cfg.lr}, {"params": module.decoder.parameters(), "lr": cfg.lr_decoder}]
    )
    start = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    last = out_dir / "last.pt"
    if resume and last.exists():
        start = resume_from(last, module, opt, dev)
        log.info("resumed from %s at step %d", last, start)
    elif cfg.decoder_init:
        log.info("decoder started from %s", load_decoder(module.decoder, cfg.decoder_init))
    net: nn.Module = module
    if world > 1:
        net = nn.parallel.DistributedDataParallel(module, device_ids=[dev.index] if dev.type == "cuda" else None)
    axis = mirror_axis(cfg)
    pairs = PairConfig(gap_s=cfg.gap_s, min_moving=cfg.min_moving, flip_axis=axis)
    sampler = PairSampler(scenes, seed=cfg.seed + 1000 * rank + start, cfg=pairs)
    probe = QualityProbe([s if isinstance(s, Scene) else Scene(s) for s in scenes], cfg.probe_frames, axis)
    amp_dtype = torch.bfloat16 if (dev.type == "cpu" or torch.cuda.is_bf16_supported()) else torch.float16
    autocast = (lambda: torch.autocast(dev.type, dtype=amp_dtype)) if cfg.bf16 else nullcontext
    metrics_file = open(out_dir / "metrics.jsonl", "a" if start else "w") if rank == 0 else None  # noqa: SIM115
    meta = {"train_config": dataclasses.asdict(cfg), "world_size": world, "frames": sampler.num_frames,
            "init": str(init) if init is not None else None,
            "init_digest": file_digest(init) if init is not None else None}  # fmt: skip
    final: dict = {}
    warnings: list[str] = []
    t0, seen = time.time(), 0
    deadline = t0 + cfg.minutes * 60 if cfg.minutes else None
    # rank 0: steps with a non-zero boundary loss since the metric line at step `logged` (counted on the
    # device, so the loop does not wait for it)
    active, logged = torch.zeros((), dtype=torch.long, device=dev), start
    step, done, stop, elapsed = start, start, False, 0.0
    module.train()
    try:
        for step in range(start, cfg.steps):
            freedom, sigma = _schedules(cfg, step)
            module.set_sigma(sigma)
            warm_up = step < cfg.freeze_steps  # only the decoder learns
            opt.param_groups[0]["lr"] = 0.0 if warm_up else cfg.lr
            x, y, bg = (t.to(dev, non_blocking=True) for t in sampler.sample(cfg.batch))
            with autocast():  # single process: the warm-up skips the regressor's backward (DDP wants every grad)
                out = net(x, y, bg, freedom, frozen=warm_up and world == 1)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            nn.utils.clip_grad_norm_(module.parameters(), cfg.clip_grad)
            opt.step()
            seen += cfg.batch * world
            done = step + 1
            stop = _out_of_time(deadline, world, dev)
            last_step = stop or done == cfg.steps
            if rank != 0:
                if stop:
                    break
                continue
            active += out["boundary"].detach() > 0
            row: dict = {}
            elapsed = time.time() - t0
            if done % cfg.log_every == 0 or last_step:
                rate = seen / max(elapsed, 1e-9)
                row = {"step": done, "images_per_s": round(rate, 1), "freedom": freedom, "sigma": round(sigma, 3)}
                row |= {k: round(float(out[k].detach()), 5) for k in ("loss", "rec", "anchor", "boundary", "keep")}
                row["boundary_active"] = round(int(active) / (done - logged), 3)  # share of steps the safeguard acted
                active.zero_()
                logged = done
                eta = (cfg.steps - done) * cfg.batch * world / max(rate, 1e-9)
                if deadline is not None:
                    eta = min(eta, max(deadline - time.time(), 0.0))
                row |= {"elapsed_s": round(elapsed, 1), "eta_s": round(eta)}
            if done % cfg.grid_every == 0 or last_step:
                with torch.no_grad(), autocast():
                    shuffled = module(x, y, bg, freedom, shuffle=True)
                rec = float(out["rec"].detach())
                gain = (float(shuffled["rec"]) - rec) / max(rec, 1e-9)
                row = row or {"step": done}
                row["template_gain"] = round(gain, 4)
                row |= probe.measure(model)
                warnings = collapse_warnings(row, warm=done > cfg.freeze_steps + cfg.log_every)
                for w in warnings:
                    log.warning("step %d: %s", done, w)
                save_grid(out_dir / f"grid_{done:06d}.png", x, y, out)
            if validate is not None and (done % eval_every == 0 or last_step):
                model.eval()
                row = row or {"step": done}
                row |= {f"val_{k}": v for k, v in validate(model).items()}
                model.train()
            if done % cfg.ckpt_every == 0 or last_step:
                _checkpoint(module, opt, done, out_dir, meta | {"last_metrics": row or final})
            if row:
                final = row
                assert metrics_file is not None
                metrics_file.write(json.dumps(row) + "\n")
                metrics_file.flush()
                if on_log is not None:
                    on_log(row)
            if stop:
                log.info("--minutes %g reached at step %d: checkpoint written", cfg.minutes, done)
                break
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
    if rank != 0:
        return final
    summary = _summarise(before.to(dev), model, probe, out_dir, final, warnings)
    summary |= {"steps_done": done, "stopped_by": "minutes" if stop else "steps", "minutes": round(elapsed / 60, 2)}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def mirror_axis(cfg: TrainConfig) -> str:
    """The axis that mirrors the subject onto itself: x for head-up (or down), y for one lying sideways."""
    if cfg.flip_axis != "auto":
        return cfg.flip_axis
    return "y" if round(cfg.init_rotation / 90) % 2 else "x"


def _out_of_time(deadline: float | None, world: int, dev: torch.device) -> bool:
    """True once the deadline passed (on any rank: all ranks stop at the same step)."""
    if deadline is None:
        return False
    flag = torch.tensor(float(time.time() >= deadline), device=dev)
    if world > 1:
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag > 0)


def _summarise(
    before: TptModel, after: TptModel, probe: QualityProbe, out_dir: Path, final: dict, warnings: list[str]
) -> dict:
    """Before/after contact sheet of up to 8 probe frames, the keypoint shift, the final signals."""
    from trainer.grid import save_before_after

    kp0, kp1 = probe.keypoints(before), probe.keypoints(after)
    size = after.cfg.input_size
    pick = torch.linspace(0, len(kp0) - 1, min(8, len(kp0))).round().long()
    frames = probe.frames[pick].permute(0, 2, 3, 1).numpy()
    save_before_after(out_dir / "before_after.png", frames, kp0[pick].numpy(), kp1[pick].numpy())
    keys = ("step", "rec", "template_gain", "bone_cv", "flip_err_pct", "outside_share", "bone_scale")
    return {
        **{k: final[k] for k in keys if k in final},
        **keypoint_shift_pct(kp0, kp1, size),
        "probe_frames": len(kp0),
        "before_after": str(out_dir / "before_after.png"),
        "warnings": warnings,
    }


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
    # a later run may start from it (decoder_init); the starting model's digest says which regressor it learnt with
    save_decoder(module.decoder, out_dir / "decoder.safetensors", {"init_digest": meta.get("init_digest")})
    save_model(module.model, out_dir / "model.safetensors", metrics=meta.get("last_metrics"), extra={"train": meta})
