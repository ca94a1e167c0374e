"""Build TensorRT engines from the ONNX export: FP32/FP16/INT8, dynamic batch, cached per GPU.

Recipe: ONNX (engines.onnx_export) -> `trt.OnnxParser` -> builder config (workspace limit, FP16/INT8
flags, one optimisation profile min:opt:max over the batch axis) -> serialized engine. The CNN runs in
the requested precision; the keypoint read-out layers (after the regressor) are pinned to FP32, as the
PyTorch backend's autocast does. INT8 uses an entropy calibrator fed with real frames; its calibration
cache is kept beside the engines and reused. TensorRT and a CUDA GPU are needed only here and in
trt_backend; everything is imported lazily and their absence is one `BackendUnavailable` line.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from engines.engine_cache import (
    EngineKey,
    EnvFacts,
    add_sidecar_fields,
    cache_root,
    get_or_build,
    sidecar_path,
    source_digest,
)
from tpt_live import __version__
from tpt_live.backend import PRECISIONS
from tpt_live.errors import BackendUnavailable, InputError, ModelError

log = logging.getLogger(__name__)

TRT_PRECISIONS = tuple(p for p in PRECISIONS if p != "bf16")  # TensorRT builds no bf16 engines
INSTALL_HINT = "pip install 'tpt-live[tensorrt]' on a machine with an NVIDIA GPU and driver"


@dataclass(frozen=True)
class BuildSpec:
    """What to build; the model and machine parts of the key come from elsewhere."""

    precision: str = "fp16"  # "fp32" | "fp16" | "int8"
    batch: tuple[int, int, int] = (1, 8, 32)  # optimisation profile: min, opt, max batch
    workspace_gb: float = 2.0  # builder workspace memory pool limit, GiB
    calib_batches: int = 32  # int8: at most this many calibration batches of size `opt`

    def __post_init__(self) -> None:
        if self.precision not in TRT_PRECISIONS:
            raise InputError(f"TensorRT precision {self.precision!r} is not one of {TRT_PRECISIONS}")
        lo, opt, hi = self.batch
        if not 1 <= lo <= opt <= hi:
            raise InputError(f"--batch {lo}:{opt}:{hi} must satisfy 1 <= MIN <= OPT <= MAX")
        if not self.workspace_gb > 0:
            raise InputError(f"--workspace-gb {self.workspace_gb} must be > 0")


def parse_batch(text: str) -> tuple[int, int, int]:
    """'1:8:32' -> (1, 8, 32); a single number N means N:N:N."""
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 3
    if len(parts) != 3 or not 1 <= parts[0] <= parts[1] <= parts[2]:
        raise InputError(f"--batch {text!r} must be MIN:OPT:MAX with 1 <= MIN <= OPT <= MAX, e.g. 1:8:32")
    return parts[0], parts[1], parts[2]


def import_tensorrt() -> ModuleType:
    """`tensorrt` when it and a CUDA GPU are usable, else BackendUnavailable with the reason."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendUnavailable(f"TensorRT is not installed: {INSTALL_HINT}") from exc
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable("TensorRT needs a CUDA GPU, and torch sees none on this machine")
    return tensorrt


def probe_env(device: int = 0) -> EnvFacts:
    """The facts an engine is tied to, read from this machine (needs TensorRT and a GPU)."""
    trt = import_tensorrt()
    import torch

    major, minor = torch.cuda.get_device_capability(device)
    return EnvFacts(torch.cuda.get_device_name(device), f"{major}.{minor}", str(trt.__version__))


def trt_logger(trt: ModuleType) -> Any:
    """A `trt.ILogger` that forwards TensorRT's messages to Python logging."""
    levels = {
        trt.ILogger.Severity.INTERNAL_ERROR: logging.ERROR,
        trt.ILogger.Severity.ERROR: logging.ERROR,
        trt.ILogger.Severity.WARNING: logging.WARNING,
        trt.ILogger.Severity.INFO: logging.DEBUG,
        trt.ILogger.Severity.VERBOSE: logging.DEBUG,
    }

    class _Logger(trt.ILogger):  # type: ignore[name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            log.log(levels.get(severity, logging.INFO), "TensorRT: %s", msg)

    return _Logger()


def entropy_calibrator(
    trt: ModuleType, frames: np.ndarray, batch: int, cache: Path, extra: dict[str, tuple[int, ...]] | None = None
) -> Any:
    """An `IInt8EntropyCalibrator2` over `frames` (N, S, S, 3) uint8 in batches of `batch`.

    The calibration cache file is read when present (no frames are run then) and written after a
    calibration, so later builds on any GPU reuse it. extra: {name: shape} of the other (fixed-shape,
    float32) inputs, filled with ones: for a temporal lifter's graph `track_start` = 1, so each batch is
    the start of a track and `kp_history` is ignored.
    """
    import torch

    fixed = {n: torch.ones(shape, dtype=torch.float32, device="cuda") for n, shape in (extra or {}).items()}

    class _Calibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[name-defined]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = [frames[i : i + batch] for i in range(0, len(frames) - batch + 1, batch)]
            self.device = torch.empty((batch, *frames.shape[1:]), dtype=torch.uint8, device="cuda")

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            if not self.batches:
                return None
            self.device.copy_(torch.from_numpy(self.batches.pop(0)))
            torch.cuda.synchronize()
            return [int(fixed[n].data_ptr()) if n in fixed else int(self.device.data_ptr()) for n in names]

        def read_calibration_cache(self) -> bytes | None:
            if cache.is_file():
                log.info("reusing INT8 calibration cache %s", cache)
                return cache.read_bytes()
            return None

        def write_calibration_cache(self, data: Any) -> None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(bytes(data))
            log.info("wrote INT8 calibration cache %s", cache)

    return _Calibrator()


def _pin_readout_fp32(trt: ModuleType, network: Any) -> int:
    """Keep every float layer outside the regressor (normalisation, keypoint read-out) in FP32."""
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if "/regressor/" in layer.name:
            continue
        outputs = [layer.get_output(j) for j in range(layer.num_outputs)]
        if outputs and all(t.dtype == trt.float32 for t in outputs):
            layer.precision = trt.float32
            for j in range(layer.num_outputs):
                layer.set_output_type(j, trt.float32)
            pinned += 1
    return pinned


def build_serialized(
    onnx_path: Path, out: Path, spec: BuildSpec, calib: Callable[[], np.ndarray] | None, calib_cache: Path | None
) -> None:
    """Build an engine from `onnx_path` and write it to `out` (TensorRT and a GPU needed).

    calib: returns the INT8 calibration frames (N, S, S, 3) uint8; called only when the calibration
    cache is absent.
    """
    trt = import_tensorrt()
    logger = trt_logger(trt)
    builder = trt.Builder(logger)
    explicit = (
        0 if int(trt.__version__.split(".")[0]) >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    )
    network = builder.create_network(explicit)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(spec.workspace_gb * (1 << 30)))
    name = network.get_input(0).name  # frames; a temporal lifter's kp_history and track_start have fixed shapes
    size = network.get_input(0).shape[1]
    lo, opt, hi = spec.batch
    profile = builder.create_optimization_profile()
    profile.set_shape(name, (lo, size, size, 3), (opt, size, size, 3), (hi, size, size, 3))
    config.add_optimization_profile(profile)
    if spec.precision in ("fp16", "int8"):
        if not getattr(builder, "platform_has_fast_fp16", True):  # deprecated in TensorRT 10
            log.warning("this GPU has no fast FP16; the engine will be slow")
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
        log.debug("pinned %d read-out layers to FP32", _pin_readout_fp32(trt, network))
    if spec.precision == "int8":
        if calib_cache is not None and calib_cache.is_file():
            frames = np.zeros((opt, size, size, 3), np.uint8)  # never run: TensorRT reads the cache
        elif calib is not None and calib_cache is not None:
            frames = calib()[: spec.calib_batches * opt]
            if len(frames) < opt:
                raise InputError(f"INT8 calibration needs at least {opt} frames (the OPT batch), got {len(frames)}")
        else:
            raise InputError("INT8 needs calibration frames: pass --calib VIDEO_OR_IMAGE_FOLDER")
        config.set_flag(trt.BuilderFlag.INT8)
        extra = {network.get_input(i).name: tuple(network.get_input(i).shape) for i in range(1, network.num_inputs)}
        config.int8_calibrator = entropy_calibrator(trt, frames, opt, calib_cache, extra)
        fixed = builder.create_optimization_profile()
        fixed.set_shape(name, (opt, size, size, 3), (opt, size, size, 3), (opt, size, size, 3))
        config.set_calibration_profile(fixed)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"TensorRT failed to build an engine from {onnx_path} (run with -v for its log)")
    out.write_bytes(bytes(serialized))


def build_engine(
    onnx_path: str | Path,
    out: str | Path,
    spec: BuildSpec,
    calib_src: str | Path | None = None,
    env: EnvFacts | None = None,
    build: Callable[..., None] = build_serialized,
) -> tuple[Path, bool]:
    """Build (or reuse from the cache) an engine for an ONNX export and copy it to `out`.

    The cache key joins the machine (`env`, probed when None), the model digest and tool version
    stored in the ONNX metadata, the precision, the shapes and (INT8) the calibration source. An engine
    in the cache whose sidecar disagrees is rebuilt, never loaded. Returns (out, built now).
    """
    from engines.frames import read_frames
    from engines.onnx_export import read_onnx_metadata

    onnx_path, out = Path(onnx_path), Path(out)
    if spec.precision == "int8" and calib_src is None:
        raise InputError("--int8 needs --calib VIDEO_OR_IMAGE_FOLDER for calibration frames")
    meta = read_onnx_metadata(onnx_path)
    size = int(meta.get("input_size", 0))
    if not size:
        raise ModelError(f"{onnx_path} has no tpt-live metadata; export it with tpt-live export --format onnx")
    calibration = source_digest(calib_src) if spec.precision == "int8" and calib_src is not None else ""
    key = EngineKey(
        env=env or probe_env(),
        model_digest=meta.get("model_digest", "none"),
        tool_version=meta.get("tool_version", __version__),
        precision=spec.precision,
        input_size=size,
        batch=spec.batch,
        calibration=calibration,
    )
    # "-lb": calibration frames are letterboxed (videoio.read_video); caches from squashed frames are not reused
    calib_cache = cache_root() / "calib" / f"{key.model_digest}-{calibration}-s{size}-lb.cache" if calibration else None
    frames = (lambda: read_frames(calib_src, size)) if calib_src is not None else None
    engine, built = get_or_build(key, lambda tmp: build(onnx_path, tmp, spec, frames, calib_cache))
    # the overlay's part ellipses, and whether the tracker locates the subject first
    add_sidecar_fields(engine, {"template": meta.get("template", ""), "framing": meta.get("framing", "frame")})
    if out.resolve() != engine.resolve():
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(engine, out)
        shutil.copyfile(sidecar_path(engine), sidecar_path(out))
    log.info("TensorRT engine %s (%s, batch %s, %s)", out, spec.precision, spec.batch, key.env.gpu)
    return out, built
