"""`tpt-live evaluate`: 2D (and 3D) error of a model on `tpt-live synth` output, or PCK on a COCO keypoints
file, as tables and JSON; 3D only on a keypoint-only folder (`tpt-live mocap` output)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tpt_live.errors import InputError


def evaluate(
    data: Annotated[
        str, typer.Argument(help="A `tpt-live synth` folder, or a COCO person-keypoints .json (images beside it).")
    ],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Checkpoint, .onnx or engine; default: the shipped model.")
    ] = None,
    backend: Annotated[str, typer.Option(help="auto, torch, onnxruntime or tensorrt.")] = "torch",
    json_out: Annotated[str | None, typer.Option("--json", help="Write the metrics here as JSON.")] = None,
    roi: Annotated[
        str | None, typer.Option(help="Evaluate on this crop x,y,w,h of every frame (as a training --roi).")
    ] = None,
    locate: Annotated[
        bool, typer.Option("--locate", help="COCO files: add the located protocol (the shipped localiser's crop).")
    ] = False,
    localiser: Annotated[
        str | None, typer.Option("--localiser", help="Localiser for the located protocol; default: the shipped one.")
    ] = None,
    refine: Annotated[
        int | None,
        typer.Option(help="Located protocols: refinement passes, as `track --refine` (default: track's)."),
    ] = None,
    look_again: Annotated[
        float | None,
        typer.Option(
            help="Located protocols: the localiser's second look, as `track --look-again` (default: track's)."
        ),
    ] = None,
    flip: Annotated[
        bool, typer.Option("--flip", help="Average each crop's pose with its mirror image's, as `track --flip`.")
    ] = False,
    handedness: Annotated[
        str, typer.Option("--handedness", help="Relabel left and right by this model, as `track --handedness`.")
    ] = "handedness",
    lifter: Annotated[
        str | None, typer.Option("--lifter", help="Lifter file for the 3D figures; default: the shipped lifter.")
    ] = None,
    supervised_lifter: Annotated[
        str | None, typer.Option("--supervised-lifter", help="Supervised upper-bound lifter; default: the shipped one.")
    ] = None,
) -> None:
    """Measure the 2D keypoint error of a model on `tpt-live synth` output (and 3D error when a lifter exists),
    or its PCK of the torso diagonal on a COCO person-keypoints file (docs/EVALUATION.md).

    A folder of synth-format JSON without videos (e.g. `tpt-live mocap` output) gets the 3D figures only,
    with the ground-truth 2D as the lifter's input, overall and per file."""
    import json
    from pathlib import Path

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from engines import open_backend
    from tpt_live.checkpoint import model_or_off
    from tpt_live.cli.common import output_file
    from tpt_live.evaluation.evaluate2d import evaluate_2d, evaluate_located, load_labelled, template_baseline
    from tpt_live.track.handedness import open_handedness, relabelled

    output_file(json_out, "--json")
    if Path(data).is_file() and not roi:  # a COCO keypoints file: whole-image and given-box protocols
        from tpt_live.cli.common import given
        from tpt_live.evaluation.coco import PARTS, THRESHOLDS, CocoConfig, evaluate_coco, table_rows

        engine = open_backend(model, backend=backend, flip=flip)
        relabel = open_handedness(model_or_off(handedness), open_backend, engine, backend=backend)
        locator = None
        if locate or engine.framing == "located":  # a located model always gets the located protocols
            from tpt_live.localiser_net import load_localiser

            locator = load_localiser(localiser)
            if look_again is not None:
                locator.look_again = look_again
        coco = evaluate_coco(
            data,
            relabelled(engine, relabel),
            engine.input_size,
            engine.template,
            CocoConfig(**given(refine=refine)),
            localiser=locator,
        )
        table = Table(title=f"{coco['n_images']} images: PCK of the torso diagonal (parts: @0.2)", box=None)
        for col in ("", "", *(f"@{t:g}" for t in THRESHOLDS), *PARTS):
            table.add_column(col)
        for row in table_rows(coco):
            table.add_row(*row)
        console = Console(stderr=True)
        console.print(table)
        for name, r in coco["protocols"].items():
            if (axis := r.get("localiser_axis")) is not None:
                console.print(
                    f"{name}: the localiser's body axis against the labels' ({axis['people']} people), medians: "
                    f"centre {axis['centre_per_length']:.2f} axis lengths off, length x{axis['length_ratio']:.2f}, "
                    f"direction {axis['direction_deg']:.0f} degrees off"
                )
            if (offset := r.get("body_offset")) is not None:  # the largest mean offsets: systematic, not random
                joints = sorted(offset["joints"].items(), key=lambda j: -np.hypot(j[1]["toward_head"], j[1]["across"]))
                shown = ", ".join(f"{j} {o['toward_head']:+.2f} / {o['across']:+.2f}" for j, o in joints[:4])
                console.print(f"{name}: largest mean offsets (torso diagonals, toward the head / across): {shown}")
        if json_out:
            Path(json_out).write_text(json.dumps(coco, indent=1) + "\n")
        return
    if not Path(data).is_dir():
        raise InputError(f"{data} is neither a folder of `tpt-live synth` output nor a COCO file (without --roi)")
    from tpt_live.evaluation.evaluate3d import has_videos, load_keypoint_clips

    if not has_videos(data):  # keypoint-only folder (`tpt-live mocap`): 3D figures from ground-truth 2D
        lifters = _load_lifters(lifter, supervised_lifter, required=True)
        assert lifters is not None  # required: a missing lifter file raised
        r3 = _evaluate_3d(load_keypoint_clips(data), *lifters)
        if json_out:
            Path(json_out).write_text(json.dumps({"3d": r3}, indent=1) + "\n")
        return
    lifters = _load_lifters(lifter, supervised_lifter)  # a bad lifter file fails before any figure is printed
    engine = open_backend(model, backend=backend, flip=flip)
    relabel = open_handedness(model_or_off(handedness), open_backend, engine, backend=backend)
    size = engine.input_size
    from tpt_live.crop import parse_roi

    located = engine.framing == "located" and not roi  # the model sees the localiser's crops: track does that
    predicted: list[np.ndarray] = []  # the 2D model's keypoints, kept for the 3D figures
    if located:
        result, videos, predicted = evaluate_located(
            data, engine, size, engine.template, localiser, refine, look_again, relabel
        )
        baseline = result.get("template_only_error_pct")
    else:
        videos = load_labelled(data, size, parse_roi(roi) if roi else None)

        def predict(frames: np.ndarray) -> np.ndarray:
            predicted.append(engine.infer(frames).keypoints)
            return predicted[-1]

        result = evaluate_2d(videos, predict, size)
        template = engine.template
        baseline = template_baseline(template, videos, size) if template is not None else None
        if baseline is not None:
            result["template_only_error_pct"] = baseline
    result["model"] = {"name": engine.model_name, "digest": engine.model_digest, "backend": engine.name}
    if roi:
        result["roi"] = roi
    framing = "the ground-truth-framed crop, located protocol" if located else f"{size} px"
    table = Table(title=f"{len(videos)} videos, {result['n_frames']} frames, error in % of {framing}")
    for col in ("", "mean", "hips", "knees", "feet", "shoulders", "hands", "PCK@0.05"):
        table.add_column(col)
    for label, key, parts in (("swap-tolerant", "mean_error_pct", "per_part"),
                              ("strict", "mean_error_pct_strict", "per_part_strict")):  # fmt: skip
        table.add_row(
            label, f"{result[key]:.2f}", *(f"{result[parts][p]:.2f}" for p in ("hips", "knees", "feet",
            "shoulders", "hands")), f"{result['pck@0.05']:.3f}" if label == "swap-tolerant" else "",
        )  # fmt: skip
    if baseline is not None:
        table.add_row("template only", f"{baseline:.2f}", *[""] * 6)
    Console(stderr=True).print(table)
    if lifters is not None:  # the 3D figures, from the ground truth's and the model's 2D in source pixels
        from tpt_live.crop import to_source
        from tpt_live.evaluation.evaluate3d import KeypointClip

        preds = np.split(np.concatenate(predicted), np.cumsum([len(v.kp2d) for v in videos])[:-1])
        clips = [KeypointClip(v.name, to_source(v.kp2d, v.box, size), v.kp3d, to_source(p, v.box, size))
                 for v, p in zip(videos, preds, strict=True)]  # fmt: skip
        result["3d"] = _evaluate_3d(clips, *lifters)
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1) + "\n")


def _load_lifters(lifter: str | None, supervised_lifter: str | None, required: bool = False) -> tuple | None:
    """(lifter, supervised lifter or None) for the 3D figures, loaded (and so checked) before any work;
    None when no lifter was given and none is shipped (unless `required`)."""
    from pathlib import Path

    from tpt_live.checkpoint import default_lifter_path
    from tpt_live.lifter import load_lifter

    lifter_path = Path(lifter) if lifter else default_lifter_path()
    if not (lifter or required or lifter_path.is_file()):
        return None
    sup_path = Path(supervised_lifter) if supervised_lifter else default_lifter_path(supervised=True)
    # the shipped supervised bound is the infant one: on a keypoint-only (mocap) folder only when asked for
    sup = load_lifter(sup_path) if supervised_lifter or (sup_path.is_file() and not required) else None
    return load_lifter(lifter_path), sup


def _evaluate_3d(clips: list, lift: Any, sup: Any) -> dict:
    """3D figures of `clips` (`KeypointClip`, source pixels) and their tables on stderr."""
    from rich.console import Console
    from rich.table import Table

    from tpt_live.evaluation.evaluate3d import report_clips

    r3 = report_clips(clips, lift, sup)
    console = Console(stderr=True)
    table = Table(title="3D, mm; the last four columns are P-MPJPE (refl: reflection allowed)")
    for col in ("2D input", "MPJPE", "N-MPJPE", "P-MPJPE", "refl", "flat", "supervised", "true depth"):
        table.add_column(col)
    keys = ("mpjpe_mm", "n_mpjpe_mm", "p_mpjpe_mm", "p_mpjpe_reflect_mm", "flat_p_mpjpe_mm",
            "supervised_p_mpjpe_mm", "oracle_depth_p_mpjpe_mm")  # fmt: skip
    for label, r in (("ground truth", r3), ("2D model", r3.get("from_model_2d"))):
        if r is not None:
            table.add_row(label, *(f"{r[k]:.1f}" if k in r else "" for k in keys))
    console.print(table)
    table = Table(title="3D per file, ground-truth 2D, mm")
    for col in ("file", "frames", "P-MPJPE", "flat", "ratio", "true depth", "N-MPJPE"):
        table.add_column(col, no_wrap=col == "file")
    for name, r in r3["per_file"].items():
        ratio = r["p_mpjpe_mm"] / max(r["flat_p_mpjpe_mm"], 1e-9)
        table.add_row(name, str(r["n_frames"]), f"{r['p_mpjpe_mm']:.1f}", f"{r['flat_p_mpjpe_mm']:.1f}",
                      f"{ratio:.2f}", f"{r['oracle_depth_p_mpjpe_mm']:.1f}", f"{r['n_mpjpe_mm']:.1f}")  # fmt: skip
    console.print(table)
    return r3
