"""Backend choice: which runtime runs a model file (`choose_backend`, pure) and `open_backend`, the one
entry point the tracker calls. It takes a checkpoint (.safetensors), an ONNX file or a TensorRT engine
(.engine / .plan); runtimes other than PyTorch are imported lazily, so a missing optional library only
matters when it is asked for.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tpt_live import __version__
from tpt_live.backend import PRECISIONS, PoseBackend
from tpt_live.checkpoint import SHIPPED_MODELS, file_digest, resolve_model_file
from tpt_live.errors import BackendUnavailable, InputError, ModelError

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
ALIASES = {"ort": "onnxruntime", "trt": "tensorrt", "pytorch": "torch"}
DEVICES = ("auto", "cpu", "cuda")
SUFFIXES = {".safetensors": "checkpoint", ".onnx": "onnx", ".engine": "engine", ".plan": "engine"}


def model_kind(path: Path) -> str:
    """'checkpoint', 'onnx' or 'engine' from the file suffix."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"model {path} has suffix {path.suffix!r}; expected one of {sorted(SUFFIXES)}")
    return kind


def _ort_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def choose_backend(
    kind: str, backend: str, precision: str, device: str, ort_installed: bool, trt_engine: bool
) -> tuple[str, str]:
    """The runtime for a model file and the reason, as a pure function of the facts.

    kind: model_kind(); trt_engine: a usable TensorRT engine for this model exists and TensorRT and a
    GPU are present. Returns (backend name, why). Raises InputError for impossible combinations.
    """
    if kind == "engine":
        if backend not in ("auto", "tensorrt"):
            raise InputError(f"a TensorRT engine runs only on --backend tensorrt, not {backend!r}")
        return "tensorrt", "the model is a TensorRT engine"
    if kind == "onnx":
        if backend not in ("auto", "onnxruntime"):
            raise InputError(f"an ONNX file runs on --backend onnxruntime, not {backend!r}; pass the checkpoint")
        if precision != "fp32":
            raise InputError(f"the ONNX graph is fp32, not {precision}; build a TensorRT engine for fp16/int8")
        return "onnxruntime", "the model is an ONNX file"
    if backend != "auto":
        return backend, f"--backend {backend} was asked for"
    if trt_engine:
        return "tensorrt", "a cached TensorRT engine for this model and a GPU are present"
    if precision in ("fp16", "bf16"):
        return "torch", f"{precision} runs as PyTorch autocast (the ONNX graph is fp32)"
    if precision == "int8":
        raise InputError("int8 needs a TensorRT engine: tpt-live export --format tensorrt --int8 --calib SRC")
    if ort_installed:
        return "onnxruntime", "ONNX Runtime is installed and no TensorRT engine is cached"
    return "torch", "ONNX Runtime is not installed"


def onnx_for_checkpoint(
    path: Path, log: logging.Logger = logger, flip: bool = False, lifter: Path | None = None
) -> Path:
    """The ONNX export of a checkpoint, from the cache or exported now (atomically) into it: with test-time flip
    averaging when `flip`, with the lifter file `lifter` (None: the shipped one of the checkpoint's template)."""
    from tpt_live.checkpoint import default_lifter_path

    if lifter is None:  # the shipped lifter of the checkpoint's template goes into the graph: part of the key
        lifters = [p for p in {default_lifter_path(), default_lifter_path(template="tpose")} if p.is_file()]
    else:
        lifters = [lifter]
    key = "".join(f"-{file_digest(p)[:8]}" for p in sorted(lifters)) + ("-flip" if flip else "")
    return cached_export(path, key, partial(_export_onnx, flip=flip, lifter=lifter), log)


def _export_onnx(path: Path, out: str, flip: bool = False, lifter: Path | None = None) -> None:
    from engines.onnx_export import export_onnx  # PyTorch, needed only when the cache misses

    export_onnx(path, out, flip=flip, lifter=lifter)


def cached_export(path: Path, key: str, export: Callable[[Path, str], object], log: logging.Logger = logger) -> Path:
    """`export(path, out)`'s ONNX file for weights file `path`, from the cache (named by the file's digest,
    `key` and the tool version) or written now, atomically, into it."""
    from engines.engine_cache import cache_root

    out = cache_root() / "onnx" / f"{path.stem}-{file_digest(path)}{key}-{__version__}.onnx"
    if out.is_file():
        log.debug("using cached ONNX export %s", out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    log.info("exporting %s to ONNX once, into %s", path.name, out)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=out.parent)
    os.close(fd)
    try:
        export(path, tmp)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    value = ALIASES.get(value, value)
    if value not in allowed:
        raise InputError(f"{name} {value!r} is not one of {', '.join(allowed)}")
    return value


def open_backend(
    model: str | Path | None = None,
    backend: str = "auto",
    device: str = "auto",
    precision: str = "fp32",
    log: logging.Logger = logger,
    threads: int | None = None,
    flip: bool = False,
    lifter: str | Path | None = None,
) -> PoseBackend:
    """Load `model` on a runtime and return it as a PoseBackend.

    model: a checkpoint (.safetensors), an ONNX file or a TensorRT engine (.engine/.plan); None = the
    shipped default model. backend: auto | torch | onnxruntime | tensorrt. device: auto | cpu | cuda.
    precision: fp32 | fp16 | bf16 | int8 (PyTorch: fp32/fp16/bf16 autocast; ONNX: fp32; TensorRT: the
    engine's own). threads: intra-op CPU threads for ONNX Runtime (None = its default). flip: test-time flip
    averaging (`TptModel.regress`; PyTorch and ONNX Runtime: an ONNX file must have been exported with it).
    lifter: a lifter file for `kp3d` instead of the shipped one of the model's template (a checkpoint on PyTorch
    or ONNX Runtime; `auto` then never picks a TensorRT engine, which carries the shipped lifter).
    `auto` picks TensorRT when an engine and a GPU are there, else ONNX Runtime, else PyTorch, and logs
    the choice and the reason at INFO on `log`.
    """
    backend = _check_choice("backend", backend, BACKENDS)
    device = _check_choice("device", device, DEVICES)
    precision = _check_choice("precision", precision, PRECISIONS)
    if model is not None and str(model) not in SHIPPED_MODELS:
        model_kind(Path(model))  # a bad suffix is named before a missing file
    path = resolve_model_file(model)
    kind = model_kind(path)
    if flip and (kind == "engine" or backend == "tensorrt"):
        raise InputError("--flip runs on --backend torch or onnxruntime; TensorRT engines are built without it")
    lifter = Path(lifter) if lifter is not None else None
    if lifter is not None:
        if kind != "checkpoint" or backend == "tensorrt":
            raise InputError("a lifter file is given with a checkpoint on --backend torch or onnxruntime")
        if not lifter.is_file():
            raise InputError(f"lifter file {lifter} does not exist")
    engine = None if flip or lifter else _cached_engine(path, kind, precision, backend, log)
    name, why = choose_backend(kind, backend, precision, device, _ort_installed(), engine is not None)
    log.info("backend %s (%s): %s", name, precision if kind == "checkpoint" else kind, why)
    if name == "torch":
        from engines.torch_backend import TorchBackend

        return TorchBackend(path, device=device, precision=precision, lifter=lifter, flip=flip)
    if name == "onnxruntime":
        from engines.ort_backend import OrtBackend

        onnx_path = path if kind == "onnx" else onnx_for_checkpoint(path, log, flip, lifter)
        ort_backend = OrtBackend(onnx_path, device=device, threads=threads)
        if flip and not ort_backend.flip:
            raise InputError(f"{path.name} was exported without flip averaging (export --flip, or pass the checkpoint)")
        return ort_backend
    if kind == "checkpoint" and engine is None:
        raise ModelError(
            f"no TensorRT engine for {path.name} at {precision}: tpt-live export --model {path} --format tensorrt"
        )
    from engines.trt_backend import TrtBackend

    return TrtBackend(engine if engine is not None else path)


def _cached_engine(path: Path, kind: str, precision: str, backend: str, log: logging.Logger) -> Path | None:
    """A cached TensorRT engine for checkpoint `path` at `precision`, built on this GPU and TensorRT.

    None when the model is not a checkpoint, another backend was asked for, or TensorRT or a GPU is
    missing (logged at DEBUG: that is the normal case on CPU machines).
    """
    if kind != "checkpoint" or backend not in ("auto", "tensorrt") or precision == "bf16":
        return None
    from engines.engine_cache import find_engines
    from engines.trt_build import probe_env

    try:
        env = probe_env()
    except BackendUnavailable as exc:
        if backend == "tensorrt":
            raise
        log.debug("TensorRT not considered: %s", exc)
        return None
    found = find_engines(file_digest(path), precision, env, __version__)
    if not found:
        log.info(
            "no cached %s TensorRT engine for %s on %s; tpt-live export --format tensorrt builds one",
            precision,
            path.name,
            env.gpu,
        )
    return found[0] if found else None
