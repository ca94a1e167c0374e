import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tpt_live.checkpoint import default_model_path, load_model
from tpt_live.crop import CropBox
from tpt_live.errors import InputError
from tpt_live.model import ModelConfig
from tpt_live.synth import SynthConfig, render_clip, write_clip
from trainer.config import ADAPTATION, ADAPTATION_MINUTES, SHIPPED_DECODER, TrainConfig
from trainer.data import PairConfig, PairSampler, Scene, load_scenes
from trainer.decoder import Decoder, load_decoder
from trainer.loop import check_run_dir, mirror_axis, train
from trainer.recipe import resolve_recipe

TINY = ModelConfig(input_size=32, widths=(8, 16, 16), hidden=16, template="infant")


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("clips")
    for i in range(2):
        clip = render_clip(SynthConfig(width=32, height=32, frames=24, seed=3, index=i))
        write_clip(clip, out)
    return out


def test_pair_sampler_pairs_frames_of_one_scene_and_flips_both():
    a = np.zeros((5, 4, 4, 3), np.uint8)
    b = np.full((5, 4, 4, 3), 255, np.uint8)
    b[:, :, 0] = 0  # left column dark: flipping moves it right
    sampler = PairSampler([a, b], seed=0)
    x, y, _ = sampler.sample(64)
    assert x.shape == (64, 3, 4, 4)
    same_scene = (x.mean((1, 2, 3)) > 0.1) == (y.mean((1, 2, 3)) > 0.1)
    assert bool(same_scene.all())
    bright = x.mean((1, 2, 3)) > 0.1
    flipped_x = x[bright][:, 0, 0, 0] > 0.5
    flipped_y = y[bright][:, 0, 0, 0] > 0.5
    assert torch.equal(flipped_x, flipped_y) and 0 < int(flipped_x.sum()) < int(bright.sum())


def test_sampler_rejects_single_frame_scenes():
    with pytest.raises(InputError):
        PairSampler([np.zeros((1, 4, 4, 3), np.uint8)])


def test_load_scenes_with_a_roi_crops_before_resizing(clip_dir):
    full = load_scenes([clip_dir], 32)[0].frames
    top_left = load_scenes([clip_dir], 16, roi=CropBox(0, 0, 16, 16))[0].frames
    assert top_left.shape == (24, 16, 16, 3)
    # a 16x16 crop at its own size is the top-left block of the 32x32 frames, up to codec rounding
    assert np.abs(top_left.astype(int) - full[:, :16, :16].astype(int)).mean() < 2


def test_load_scenes_decodes_and_caches(clip_dir, tmp_path):
    scenes = load_scenes([clip_dir], 32, cache_dir=tmp_path / "cache")
    assert [s.frames.shape for s in scenes] == [(24, 32, 32, 3)] * 2
    assert [s.fps for s in scenes] == [30.0, 30.0] and scenes[0].background.shape == (32, 32, 3)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2
    again = load_scenes([clip_dir], 32, cache_dir=tmp_path / "cache")
    assert all(np.array_equal(a.frames, b.frames) for a, b in zip(scenes, again, strict=True))


def test_training_loss_falls_and_checkpoints_round_trip(clip_dir, tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    scenes = load_scenes([clip_dir], 32)
    cfg = TrainConfig(steps=40, batch=8, log_every=5, grid_every=40, ckpt_every=20, coarse_steps=10,
                      blend_steps=10, sigma_steps=20, bf16=False, lr_decoder=2e-3)  # fmt: skip
    rows = []
    train(scenes, tmp_path / "run", TINY, cfg, device="cpu", on_log=rows.append)
    rec = [r["rec"] for r in rows if "rec" in r]
    assert len(rec) == 8
    assert np.mean(rec[-2:]) < 0.8 * np.mean(rec[:2])
    run = tmp_path / "run"
    assert (run / "grid_000040.png").exists()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 40 and "template_gain" in lines[-1]
    model = load_model(run / "model.safetensors")
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["step"] == 40
    for k, v in model.state_dict().items():
        assert torch.equal(v, state["model"][k])
    decoder = load_file(str(run / "decoder.safetensors"))  # the decoder, for a later run to start from
    assert decoder.keys() == state["decoder"].keys()
    assert all(torch.equal(v, state["decoder"][k]) for k, v in decoder.items())
    # resume continues from step 40 to 50
    cfg2 = TrainConfig(**{**cfg.__dict__, "steps": 50})
    rows2 = []
    train(scenes, run, TINY, cfg2, device="cpu", resume=True, on_log=rows2.append)
    assert rows2[0]["step"] == 45 and torch.load(run / "last.pt", weights_only=True)["step"] == 50


def test_decoder_init_starts_from_a_saved_decoder_and_refuses_a_foreign_one(clip_dir, tmp_path):
    from tpt_live.errors import ModelError
    from trainer.decoder import save_decoder

    torch.manual_seed(0)
    scenes = load_scenes([clip_dir], 32)
    saved = Decoder(18, (8, 16))
    for p in saved.parameters():
        p.data.normal_()
    save_decoder(saved, tmp_path / "dec.safetensors")
    cfg = TrainConfig(steps=1, batch=2, decoder_widths=(8, 16), lr_decoder=1e-12, grid_every=10, bf16=False)
    runs = {}
    for name, init in (("fresh", None), ("init", str(tmp_path / "dec.safetensors"))):
        train(scenes, tmp_path / name, TINY, dataclasses.replace(cfg, decoder_init=init), device="cpu")
        runs[name] = load_file(str(tmp_path / name / "decoder.safetensors"))
    weights = [k for k in runs["init"] if k.endswith("weight")]
    assert all(torch.allclose(runs["init"][k], saved.state_dict()[k], atol=1e-6) for k in weights)
    assert not any(torch.allclose(runs["fresh"][k], saved.state_dict()[k], atol=1e-2) for k in weights)
    with pytest.raises(ModelError, match="decoder_widths"):  # saved for other widths
        load_decoder(Decoder(18, (8, 32)), str(tmp_path / "dec.safetensors"))
    with pytest.raises(ModelError, match="not found"):
        load_decoder(saved, str(tmp_path / "none.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelError, match="not a readable tpt-live decoder file"):
        load_decoder(saved, str(tmp_path / "junk.safetensors"))
    with pytest.raises(ModelError, match="not a tpt-live decoder file"):  # a model file is not a decoder file
        load_decoder(saved, str(default_model_path()))


def test_boundary_activity_is_logged_and_pulls_displaced_parts_back(clip_dir, tmp_path):
    """Parts started a whole image to the right: the boundary loss acts on every step, is logged as such and
    pulls the parts back; parts that start at the template (inside the frame) never trigger it here."""
    from tpt_live.checkpoint import save_model
    from tpt_live.model import TptModel
    from tpt_live.template import load_template

    torch.manual_seed(0)
    torch.set_num_threads(1)
    scenes = load_scenes([clip_dir], TINY.input_size)
    model = TptModel(TINY, load_template(TINY.template))
    with torch.no_grad():
        model.regressor.head.bias.view(-1, 2, 3)[:, 0, 2] = 1.0  # translation x = +S for every part
    init = save_model(model, tmp_path / "displaced.safetensors")
    cfg = TrainConfig(steps=6, batch=4, log_every=3, grid_every=100, ckpt_every=100, freeze_steps=0,
                      bf16=False, lr=1e-3)  # fmt: skip
    rows: list[dict] = []
    train(scenes, tmp_path / "out", TINY, cfg, device="cpu", on_log=rows.append, init=init)
    assert rows[0]["boundary_active"] == 1.0 and rows[0]["boundary"] > 0
    assert rows[-1]["boundary"] < rows[0]["boundary"]  # pulled back towards the frame
    inside: list[dict] = []
    train(scenes, tmp_path / "plain", TINY, cfg, device="cpu", on_log=inside.append)
    assert [r["boundary_active"] for r in inside] == [0.0, 0.0]


def test_torchrun_two_processes_gloo(clip_dir, tmp_path):
    """DistributedDataParallel on CPU: 2 processes, gloo, through the real CLI."""
    import socket

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as probe:  # a port free now (a fixed one collides with other runs on the machine)
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", port,
           "-m", "tpt_live", "train", str(clip_dir), "--out", str(tmp_path / "ddp"), "--size", "32",
           "--steps", "6", "--batch", "2", "--ckpt-every", "3", "--quiet", "--device", "cpu"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((tmp_path / "ddp" / "model.json").read_text())
    assert meta["train"]["world_size"] == 2
    assert torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)["step"] == 6


def _indexed_scene(n: int, fps: float | None) -> Scene:
    """Frame i is filled with the value i (so a pair's frame indices can be read back)."""
    frames = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None], 4, 1).repeat(4, 2).repeat(3, 3)
    return Scene(frames, fps)


def test_pair_gap_follows_the_frame_rate():
    sampler = PairSampler([_indexed_scene(100, 10.0)], seed=0, cfg=PairConfig(gap_s=(0.2, 0.5), flip=False))
    x, y, bg = sampler.sample(256)
    gaps = (x[:, 0, 0, 0] * 255 - y[:, 0, 0, 0] * 255).round().abs()
    assert gaps.min() == 2 and gaps.max() == 5  # 0.2-0.5 s at 10 fps
    assert bool((x[:, 0, 0, 0] > y[:, 0, 0, 0]).any() and (x[:, 0, 0, 0] < y[:, 0, 0, 0]).any())  # both orders
    assert bg.shape == x.shape
    anywhere = PairSampler([_indexed_scene(100, None)], seed=0, cfg=PairConfig(gap_s=(0.2, 0.5)))  # no fps
    x, y, _ = anywhere.sample(256)
    assert (x[:, 0, 0, 0] * 255 - y[:, 0, 0, 0] * 255).round().abs().max() > 20


def test_near_identical_pairs_are_redrawn():
    frames = np.zeros((40, 8, 8, 3), np.uint8)
    frames[20:, :, :4] = np.arange(20, dtype=np.uint8)[:, None, None, None] * 12  # only frames 20-39 move
    cfg = PairConfig(min_moving=0.1, flip=False)
    sampler = PairSampler([Scene(frames, 30.0)], seed=0, cfg=cfg)
    x, y, _ = sampler.sample(200)
    moving = ((x - y).abs().amax(1) > 0.1).float().mean((1, 2))
    assert float((moving >= 0.1).float().mean()) > 0.9 and sampler.redrawn > 0
    x, y, _ = PairSampler([Scene(frames, 30.0)], seed=0, cfg=PairConfig(flip=False)).sample(200)
    assert float((((x - y).abs().amax(1) > 0.1).float().mean((1, 2)) >= 0.1).float().mean()) < 0.9


def test_minutes_stops_the_run_and_saves(clip_dir, tmp_path):
    torch.set_num_threads(1)
    scenes = load_scenes([clip_dir], TINY.input_size)
    cfg = TrainConfig(steps=10**9, minutes=0.02, batch=2, log_every=1000, bf16=False, background=True,
                      gap_s=(0.1, 0.5), min_moving=0.001, probe_frames=6)  # fmt: skip
    summary = train(scenes, tmp_path / "run", TINY, cfg, device="cpu")
    run = tmp_path / "run"
    assert summary["stopped_by"] == "minutes" and 0 < summary["steps_done"] < 10**9
    assert torch.load(run / "last.pt", weights_only=True)["step"] == summary["steps_done"]
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == summary["steps_done"]
    assert (run / "before_after.png").exists() and summary["probe_frames"] == 6
    assert json.loads((run / "summary.json").read_text())["steps_done"] == summary["steps_done"]
    for key in ("bone_cv", "flip_err_pct", "template_gain", "moved_mean_pct"):
        assert key in summary
    load_model(run / "model.safetensors")


def test_run_folder_is_never_silently_reused(tmp_path):
    run = tmp_path / "run"
    check_run_dir(run, resume=False, force=False)  # missing: fine
    (run / "cache").mkdir(parents=True)
    check_run_dir(run, resume=False, force=False)  # only the frame cache: fine
    (run / "metrics.jsonl").write_text("{}\n")
    (run / "notes.txt").write_text("mine\n")
    with pytest.raises(InputError, match="not empty"):
        check_run_dir(run, resume=False, force=False)
    with pytest.raises(InputError, match="does not exist"):
        check_run_dir(run, resume=True, force=False)  # nothing to resume
    check_run_dir(run, resume=False, force=True)
    assert not (run / "metrics.jsonl").exists() and (run / "notes.txt").exists() and (run / "cache").is_dir()


def test_adaptation_defaults_apply_only_with_init():
    def train_config(init: bool, **options: object) -> TrainConfig:  # as `tpt-live train` layers them
        return resolve_recipe(None, {}, options, init=default_model_path() if init else None)[1]

    plain = train_config(False)
    assert plain == TrainConfig()
    adapt = train_config(True)
    assert adapt.minutes == ADAPTATION_MINUTES and adapt.background and adapt.gap_s == (0.2, 2.0)
    assert adapt.sigma_start == 1.0
    # the shipped default model starts its decoder from the shipped one, with a short warm-up and half the
    # regressor's rate; other models (and other decoder widths) start a fresh decoder with the longer warm-up
    assert (
        (adapt.decoder_init, adapt.freeze_steps, adapt.lr) == ("default", 20, 1e-4) == tuple(SHIPPED_DECODER.values())
    )
    other = resolve_recipe(None, {}, {}, init=default_model_path("tpt64"))[1]
    assert (other.decoder_init, other.freeze_steps, other.lr) == (None, ADAPTATION["freeze_steps"], ADAPTATION["lr"])
    # the previous default, same network and template: the shipped decoder learnt with another regressor
    assert resolve_recipe(None, {}, {}, init=default_model_path("monitor"))[1].decoder_init is None
    thin = train_config(True, decoder_widths=(16, 32, 64))
    assert (thin.decoder_init, thin.freeze_steps) == (None, ADAPTATION["freeze_steps"])
    assert plain.decoder_init is None
    load_decoder(Decoder(18), "default")  # the shipped decoder fits the default model's template and widths
    assert adapt.freeze_norm and not plain.freeze_norm and not train_config(True, freeze_norm=False).freeze_norm
    assert (adapt.window_s, plain.window_s) == (3.0, 0.0)  # located windows follow the user's video
    mine = train_config(True, steps=50, background=False, gap_s=None, lr=1e-3)  # gap_s None: `--gap any`
    assert (mine.steps, mine.minutes, mine.background, mine.gap_s, mine.lr) == (50, None, False, None, 1e-3)
    timed = train_config(False, minutes=2.0)
    assert timed.minutes == 2.0 and timed.steps > 10**6
    recipe = {"model": {}, "train": {"freeze_steps": 7}}  # a recipe's setting wins over the adaptation default
    assert resolve_recipe(recipe, {}, {}, init=default_model_path())[1].freeze_steps == 7


def test_pairs_mirror_across_the_subject_axis():
    a = np.zeros((5, 4, 4, 3), np.uint8)
    a[:, 0] = 255  # top row bright: a top-bottom mirror moves it to the bottom
    sampler = PairSampler([Scene(a, None)], seed=0, cfg=PairConfig(flip_axis="y"))
    x, y, bg = sampler.sample(64)
    flipped = x[:, 0, 3, 0] > 0.5
    assert torch.equal(flipped, y[:, 0, 3, 0] > 0.5) and torch.equal(flipped, bg[:, 0, 3, 0] > 0.5)
    assert 0 < int(flipped.sum()) < 64 and bool((x[:, 0, :, 0].amax(1) > 0.5).all())  # rows swap, columns stay
    assert mirror_axis(TrainConfig()) == "x"
    assert [mirror_axis(TrainConfig(init_rotation=d)) for d in (90, -90, 180, 80)] == ["y", "y", "x", "y"]
    assert mirror_axis(TrainConfig(init_rotation=90, flip_axis="x")) == "x"


def test_head_turns_training_frames_as_track_does(clip_dir):
    up = load_scenes([clip_dir], 32)[0].frames
    right = load_scenes([clip_dir], 32, head="right")[0].frames
    assert np.array_equal(right, np.rot90(up, 1, axes=(1, 2)))  # one counter-clockwise quarter turn
    with pytest.raises(InputError, match="--head"):
        load_scenes([clip_dir], 32, head="sideways")


def test_resume_with_a_bad_or_foreign_last_pt_is_one_line(clip_dir, tmp_path):
    from tpt_live.errors import ModelError

    torch.set_num_threads(1)
    scenes = load_scenes([clip_dir], 32)
    cfg = TrainConfig(steps=2, batch=2, log_every=1, grid_every=100, ckpt_every=2, bf16=False)
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_text("garbage, not a checkpoint")
    with pytest.raises(ModelError, match=r"last.pt: not a readable training checkpoint .*drop --resume"):
        train(scenes, run, TINY, cfg, device="cpu", resume=True)
    train(scenes, run, TINY, cfg, device="cpu")  # a fresh run writes a real last.pt at 32 px
    bigger = ModelConfig(**{**TINY.__dict__, "input_size": 48})
    with pytest.raises(ModelError, match=r"written for another model .*--size"):
        train(load_scenes([clip_dir], 48), run, bigger, cfg, device="cpu", resume=True)


def test_vgg_weights_that_are_not_weights_are_one_line(tmp_path):
    from tpt_live.errors import ModelError
    from trainer.losses import Vgg19Relu32

    (tmp_path / "notes.pth").write_text("not weights")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 3)
    for name in ("notes.pth", "bad.safetensors"):
        with pytest.raises(ModelError, match=r"--vgg-weights .*not a weights file"):
            Vgg19Relu32(tmp_path / name)


def test_keep_term_is_zero_at_the_start_and_pulls_the_keypoints_back():
    from tpt_live.model import TptModel
    from tpt_live.template import load_template
    from trainer.loop import TrainModule

    torch.manual_seed(0)
    model = TptModel(TINY, load_template("infant"))
    module = TrainModule(model, TrainConfig(keep_weight=2.0)).train()
    assert module.teacher is not None and not module.teacher.training  # frozen statistics, too
    assert all(not p.requires_grad for p in module.teacher.parameters())
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    bg = torch.zeros(2, 3, 32, 32)
    assert float(module(x, y, bg, 1.0)["keep"].detach()) == pytest.approx(0.0, abs=1e-6)  # the student is the teacher
    with torch.no_grad():
        model.regressor.head.bias.add_(0.05)  # the student's parts move away
    out = module(x, y, bg, 1.0)
    assert float(out["keep"].detach()) > 1e-3
    plain = TrainModule(model, TrainConfig(keep_weight=0.0))
    assert plain.teacher is None
    plain.decoder.load_state_dict(module.decoder.state_dict())
    plain_out = plain(x, y, bg, 1.0)
    assert float(plain_out["keep"]) == 0.0
    torch.testing.assert_close(out["loss"], plain_out["loss"] + 2.0 * out["keep"])
    out["loss"].backward()
    assert model.regressor.head.bias.grad is not None and module.teacher.regressor.head.bias.grad is None
    with pytest.raises(InputError, match="keep-weight"):
        TrainConfig(keep_weight=-1.0)


def test_freeze_norm_keeps_the_models_batch_norm_statistics():
    from tpt_live.model import TptModel
    from tpt_live.template import load_template
    from trainer.loop import TrainModule

    torch.manual_seed(0)
    norms = lambda m: [x for x in m.modules() if isinstance(x, torch.nn.modules.batchnorm._BatchNorm)]  # noqa: E731
    x, y, bg = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.zeros(2, 3, 32, 32)
    for freeze in (True, False):
        model = TptModel(TINY, load_template("infant"))
        assert norms(model.regressor)  # the tiny regressor has batch norms to test
        before = [n.running_mean.clone() for n in norms(model)]
        module = TrainModule(model, TrainConfig(freeze_norm=freeze)).train()
        module(x, y, bg, 1.0)
        after = [n.running_mean for n in norms(model)]
        assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True)) == freeze
        assert all(not n.training for n in norms(model)) == freeze
        assert module.decoder.training  # the new decoder always learns


def test_warm_up_skips_the_regressors_gradients_and_the_decoder_takes_its_widths():
    from tpt_live.model import TptModel
    from tpt_live.template import load_template
    from trainer.loop import TrainModule

    torch.manual_seed(0)
    x, y, bg = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.zeros(2, 3, 32, 32)
    model = TptModel(TINY, load_template("infant"))
    module = TrainModule(model, TrainConfig(decoder_widths=(8, 12))).train()
    assert [b[0].out_channels for b in module.decoder.downs] == [8, 12]  # one level per width
    frozen = module(x, y, bg, 1.0, frozen=True)
    plain = module(x, y, bg, 1.0)
    torch.testing.assert_close(frozen["loss"], plain["loss"])  # the same loss, without the regressor's graph
    frozen["loss"].backward()
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is not None for p in module.decoder.parameters())
    plain["loss"].backward()
    assert all(p.grad is not None for p in model.regressor.parameters() if p.requires_grad)
    with pytest.raises(InputError, match="decoder_widths"):
        TrainConfig(decoder_widths=())
