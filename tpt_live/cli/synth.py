"""`tpt-live synth`: synthetic infant videos with exact 2D/3D ground truth."""

from __future__ import annotations

from typing import Annotated

import typer


def synth(
    out_dir: Annotated[str, typer.Argument(help="Directory for <name>.mp4 and <name>.json (created if needed).")],
    videos: Annotated[int, typer.Option("--videos", help="Number of videos to render.")] = 8,
    frames: Annotated[int, typer.Option("--frames", help="Frames per video.")] = 90,
    size: Annotated[str, typer.Option("--size", help="Frame size WIDTHxHEIGHT (even numbers).")] = "256x256",
    fps: Annotated[float, typer.Option("--fps", help="Frame rate of the motion and the video.")] = 30.0,
    seed: Annotated[int, typer.Option("--seed", help="Dataset seed; video i is the same whatever --videos is.")] = 0,
    pose: Annotated[str, typer.Option("--pose", help="supine, side, prone or mixed (drawn per video).")] = "supine",
    world: Annotated[
        str,
        typer.Option(
            "--world",
            help="default (centred, head up), wide (any turn, 15-90% of the height, anywhere) or room (wide,"
            " filmed from overhead to nearly level, a wall behind).",
        ),
    ] = "default",
    look: Annotated[
        str,
        typer.Option(
            "--look",
            help="plain (flat colours), varied (shaded skin, clothes, clutter, photo-like) or random (varied, with"
            " every body part, the skin and the mat in random textures).",
        ),
    ] = "plain",
    flexion: Annotated[
        float,
        typer.Option(help="Share of videos in a young infant's flexed resting posture (hips, knees, elbows bent)."),
    ] = 0.0,
    hands: Annotated[
        float,
        typer.Option(help="Share of arms held with the hand at the face or chest (each arm drawn on its own)."),
    ] = 0.0,
    side_gravity: Annotated[
        bool,
        typer.Option("--side-gravity", help="A side-lying baby rests its upper arm and leg on its body."),
    ] = False,
    propped: Annotated[
        float,
        typer.Option(help="Share of babies on their tummy propped on forearms or hands, chest up (tummy time)."),
    ] = 0.0,
    sitting: Annotated[
        float, typer.Option(help="Share of babies on their back drawn sitting up instead (older infants).")
    ] = 0.0,
    seats: Annotated[
        float,
        typer.Option(help="Share of babies on their back reclined in a bouncer or car seat (varied/random looks)."),
    ] = 0.0,
    preview: Annotated[bool, typer.Option("--preview", help="Also write <name>_preview.png contact sheets.")] = False,
    scenario: Annotated[
        str | None,
        typer.Option(help="Monitoring scenario: active, absent, leave_return, still or roll (labels per frame)."),
    ] = None,
) -> None:
    """Render synthetic infant videos with exact 2D/3D ground truth."""
    import time
    from pathlib import Path

    from rich.console import Console

    from tpt_live.cli.common import output_folder
    from tpt_live.errors import InputError
    from tpt_live.synth import SynthConfig, iter_clips, parse_size, write_clip

    width, height = parse_size(size)
    config = SynthConfig(
        width=width,
        height=height,
        frames=frames,
        fps=fps,
        seed=seed,
        pose=pose,
        world=world,
        look=look,
        flexion=flexion,
        hands=hands,
        side_gravity=side_gravity,
        propped=propped,
        sitting=sitting,
        seats=seats,
    )
    if videos < 1:
        raise InputError(f"bad video count {videos}: use --videos 1 or more")
    output_folder(out_dir, "OUT_DIR")
    out = Path(out_dir)
    console = Console(stderr=True)
    start, render_s = time.perf_counter(), 0.0
    if scenario is None:
        clips = iter_clips(config, videos)
    else:
        from dataclasses import replace

        from tpt_live.synth.scenarios import render_scenario

        clips = (render_scenario(replace(config, index=i), scenario) for i in range(videos))
    for clip in clips:
        write_clip(clip, out, preview=preview)
        render_s += clip.render_seconds
        console.print(f"  {clip.name}: {frames} frames ({frames / max(clip.render_seconds, 1e-9):.0f} fps rendering)")
    total = videos * frames
    console.print(
        f"[bold]wrote {videos} videos[/bold] x {frames} frames ({width}x{height}) to {out}: "
        f"rendering {total / max(render_s, 1e-9):.0f} fps, total {time.perf_counter() - start:.1f} s"
    )
