"""Inference speed per backend: ms per frame and frames/s at batch 1 and 8, one backend per process.

    python benchmarks/bench_backends.py                       # the shipped model
    python benchmarks/bench_backends.py --model M.safetensors
    python benchmarks/bench_backends.py --random              # a seeded random model of the default config

Each backend runs in its own subprocess: two runtimes in one process slow each other down (ONNX
Runtime's worker threads compete with PyTorch's). The parent prints the machine, the exact command and a
Markdown table. Frames are seeded random uint8 at the model's input size; the time covers `infer()` as
the tracker calls it (input check, host->device copy, the model, read-out, copy back).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = (("torch", "fp32"), ("torch", "bf16"), ("onnxruntime", "fp32"), ("tensorrt", "fp16"))
BATCHES = (1, 8)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads: int) -> str:
    import onnxruntime
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (
        f"CPU: {cpu_model()}, {cores} usable cores (of {os.cpu_count()}), {threads} inference thread(s); GPU: {gpu}\n"
        f"Python {platform.python_version()}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}"
    )


def random_model(folder: Path) -> Path:
    """A seeded random model of the default ModelConfig (head randomised so poses are non-trivial)."""
    import torch

    from tpt_live.checkpoint import save_model
    from tpt_live.model import ModelConfig, TptModel
    from tpt_live.template import load_template

    cfg = ModelConfig()
    name = (
        cfg.template
        if (Path(__file__).parents[1] / "tpt_live/templates" / f"{cfg.template}.json").is_file()
        else "tpose"
    )
    torch.manual_seed(0)
    model = TptModel(cfg, load_template(name))
    torch.nn.init.normal_(model.regressor.head.weight, std=0.01)
    return save_model(model, folder / "random-default.safetensors")


def worker(model: str, backend: str, precision: str, threads: int, seconds: float) -> dict:
    """Runs in the child: open one backend, time it at each batch size, return the figures."""
    import torch

    torch.set_num_threads(threads)
    from engines import open_backend
    from engines.frames import random_frames

    device = "cuda" if backend == "tensorrt" else "cpu"
    be = open_backend(model, backend=backend, device=device, precision=precision, threads=threads)
    rows = {}
    for batch in BATCHES:
        frames = random_frames(batch, be.input_size)
        for _ in range(5):
            be.infer(frames)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            be.infer(frames)
            n += 1
        ms = (time.perf_counter() - start) / (n * batch) * 1000
        rows[batch] = {"ms_per_frame": ms, "fps": 1000 / ms, "calls": n}
    return {"backend": be.name, "precision": be.precision, "input_size": be.input_size, "batches": rows}


def run_child(model: str, backend: str, precision: str, threads: int, seconds: float) -> dict | str:
    cmd = [sys.executable, __file__, "--worker", backend, precision, "--model", model]
    cmd += ["--threads", str(threads), "--seconds", str(seconds)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return lines[-1] if lines else f"exit {proc.returncode}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result.get("error", result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint (.safetensors); default: the shipped model")
    parser.add_argument("--random", action="store_true", help="benchmark a seeded random model of the default config")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per backend (torch and ORT intra-op)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per backend and batch size")
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        from tpt_live.errors import TptError

        try:
            backend, precision = args.worker
            print(json.dumps(worker(args.model, backend, precision, args.threads, args.seconds)))
        except TptError as exc:  # an unavailable runtime is a row of the table, not a crash
            print(json.dumps({"error": str(exc)}))
        return
    tmp = tempfile.TemporaryDirectory()
    if args.random:
        model = str(random_model(Path(tmp.name)))
    else:
        from tpt_live.checkpoint import default_model_path

        model = args.model or str(default_model_path())
    os.environ.setdefault("TPT_LIVE_CACHE", str(Path(tmp.name) / "cache"))
    from engines import onnx_for_checkpoint

    onnx_for_checkpoint(Path(model))  # export here, so the ONNX Runtime child never imports torch's kernels twice
    print(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(machine(args.threads))
    print(f"model: {'random default config' if args.random else model}\n")
    print("| backend | precision | batch | ms/frame | frames/s |")
    print("|---|---|---|---|---|")
    for backend, precision in CANDIDATES:
        result = run_child(model, backend, precision, args.threads, args.seconds)
        if isinstance(result, str):
            print(f"| {backend} | {precision} | - | unavailable: {result} | - |")
            continue
        for batch, row in result["batches"].items():
            print(f"| {backend} | {precision} | {batch} | {row['ms_per_frame']:.2f} | {row['fps']:.0f} |")
    tmp.cleanup()


if __name__ == "__main__":
    main()
