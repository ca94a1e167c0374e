"""`tpt-live export`: ONNX or TensorRT, then a parity check against PyTorch."""

from __future__ import annotations

from typing import Annotated

import typer


def export(
    out: Annotated[str, typer.Option("--out", "-o", help="Output file: .onnx, or .engine/.plan for TensorRT.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="onnx or tensorrt.")] = "onnx",
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Checkpoint (.safetensors); default: the shipped model.")
    ] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="TensorRT: build an FP16 engine.")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="TensorRT: build an INT8 engine (needs --calib).")] = False,
    calib: Annotated[
        str | None, typer.Option("--calib", help="INT8 calibration frames: a video file, an image folder or a photo.")
    ] = None,
    check: Annotated[
        str | None, typer.Option("--check", help="Frames for the parity check (default: --calib, else random).")
    ] = None,
    batch: Annotated[str, typer.Option("--batch", help="TensorRT batch profile MIN:OPT:MAX.")] = "1:8:32",
    workspace_gb: Annotated[float, typer.Option("--workspace-gb", help="TensorRT builder workspace, GiB.")] = 2.0,
    flip: Annotated[
        bool, typer.Option("--flip", help="ONNX: average each frame with its mirror image (as `track --flip`).")
    ] = False,
) -> None:
    """Compile the model to ONNX or a TensorRT engine, then check it against PyTorch."""
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from engines.export import ExportRequest, check_parity, export, parity, resolve_model
    from engines.trt_build import parse_batch
    from tpt_live.cli.common import output_file
    from tpt_live.errors import InputError

    if fp16 and int8:
        raise InputError("pass one of --fp16 and --int8, not both")
    output_file(out, "--out")
    req = ExportRequest(
        model=resolve_model(model),
        format=fmt,
        out=Path(out),
        precision="int8" if int8 else "fp16" if fp16 else "fp32",
        batch=parse_batch(batch),
        workspace_gb=workspace_gb,
        calib=Path(calib) if calib else None,
        check=Path(check) if check else None,
        flip=flip,
    )
    artefact = export(req)
    rows = parity(req, artefact)
    table = Table(title=f"{artefact} vs PyTorch fp32")
    for column in ("backend", "precision", "max keypoint diff (px)", "tolerance (px)", "ms/frame"):
        table.add_column(column, justify="left" if column in ("backend", "precision") else "right")
    for r in rows:
        tol = "reference" if r.tolerance_px is None else f"{r.tolerance_px:g}"
        table.add_row(r.backend, r.precision, f"{r.max_px:.5f}", tol, f"{r.ms_per_frame:.2f}")
    Console().print(table)
    check_parity(rows)
