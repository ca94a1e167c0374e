"""Procedural synthetic infant videos with exact 2D/3D keypoint ground truth (`tpt-live synth`).

Entry points: `render_clip(SynthConfig(...)) -> Clip` (in memory), `write_clip(clip, out_dir)`,
`iter_clips(config, videos)`, and `canonical_skeleton_2d(size)` for template design. See
docs/SYNTH.md for the body/motion model and the ground-truth format.
"""

from tpt_live.synth.clip import (
    Clip,
    Scene,
    SynthConfig,
    canonical_skeleton_2d,
    iter_clips,
    parse_size,
    posed_frames,
    render_clip,
    render_scene,
    sample_scene,
    write_clip,
)
from tpt_live.synth.motion import SCENARIOS

__all__ = [
    "SCENARIOS",
    "Clip",
    "Scene",
    "SynthConfig",
    "canonical_skeleton_2d",
    "iter_clips",
    "parse_size",
    "posed_frames",
    "render_clip",
    "render_scene",
    "sample_scene",
    "write_clip",
]
