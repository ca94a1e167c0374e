"""Where compiled artefacts live, and when a cached TensorRT engine may be reused.

A TensorRT engine is only valid for the GPU model, compute capability and TensorRT version that built
it, and for the model weights, precision and shapes it was built from. Every engine file `X.engine` has a
JSON sidecar `X.engine.json` holding its `EngineKey`. An engine is reused only when the sidecar's key
equals the key of the current request on the current machine; otherwise it is rebuilt (with a log line
that names the fields that changed), never loaded. The environment facts are a plain dataclass, so all of
this is testable without TensorRT or a GPU.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KEY_VERSION = 1  # bump when the engine layout or the build recipe changes incompatibly


def cache_root() -> Path:
    """$TPT_LIVE_CACHE, else $XDG_CACHE_HOME/tpt-live, else ~/.cache/tpt-live."""
    if os.environ.get("TPT_LIVE_CACHE"):
        return Path(os.environ["TPT_LIVE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tpt-live"


@dataclass(frozen=True)
class EnvFacts:
    """What an engine is tied to on the machine that runs it (see trt_build.probe_env)."""

    gpu: str  # CUDA device name, e.g. "NVIDIA H100 80GB HBM3"
    compute_capability: str  # "major.minor", e.g. "9.0"
    tensorrt: str  # tensorrt.__version__


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; two equal keys may share one engine file."""

    env: EnvFacts  # the machine's GPU and TensorRT
    model_digest: str  # checkpoint.file_digest of the checkpoint the ONNX came from
    tool_version: str  # tpt_live.__version__ that exported the ONNX graph
    precision: str  # "fp32" | "fp16" | "int8"
    input_size: int  # S of the (B, S, S, 3) uint8 input
    batch: tuple[int, int, int]  # optimisation profile (min, opt, max) batch size
    calibration: str = ""  # int8 only: digest of the calibration source
    key_version: int = KEY_VERSION  # KEY_VERSION when written

    def __post_init__(self) -> None:
        lo, opt, hi = self.batch
        if not 1 <= lo <= opt <= hi:
            raise ValueError(f"batch profile {self.batch} must satisfy 1 <= min <= opt <= max")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EngineKey:
        fields = dict(d)
        fields["env"] = EnvFacts(**fields["env"])
        fields["batch"] = tuple(fields["batch"])
        return cls(**fields)

    def request_name(self) -> str:
        """File stem from the request only (model, precision, shapes), not the machine: an engine from
        another GPU or TensorRT lands on the same path, where its sidecar marks it stale."""
        lo, opt, hi = self.batch
        tag = f"-{self.calibration[:8]}" if self.calibration else ""
        return f"{self.model_digest}-{self.precision}{tag}-s{self.input_size}-b{lo}_{opt}_{hi}"


def engine_path(key: EngineKey, root: Path | None = None) -> Path:
    """Where the cache keeps the engine for `key`."""
    return (root or cache_root()) / "engines" / f"{key.request_name()}.engine"


def sidecar_path(engine: Path) -> Path:
    """`X.engine` -> `X.engine.json`."""
    return engine.with_name(engine.name + ".json")


def write_sidecar(engine: Path, key: EngineKey, extra: dict[str, Any] | None = None) -> Path:
    """Write the key (and informational extras such as build time) next to `engine`."""
    path = sidecar_path(engine)
    path.write_text(json.dumps({"key": key.to_dict(), **(extra or {})}, indent=1) + "\n")
    return path


def read_sidecar(engine: Path) -> EngineKey | None:
    """The key stored next to `engine`, or None when the sidecar is missing or unreadable."""
    try:
        return EngineKey.from_dict(json.loads(sidecar_path(engine).read_text())["key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def add_sidecar_fields(engine: Path, fields: dict[str, Any]) -> None:
    """Add informational fields (e.g. the model's template) to `engine`'s sidecar; the key is unchanged."""
    path = sidecar_path(engine)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, **fields}, indent=1) + "\n")


def sidecar_field(engine: Path, name: str) -> Any:
    """An informational field of `engine`'s sidecar, or None."""
    try:
        return json.loads(sidecar_path(engine).read_text()).get(name)
    except (OSError, ValueError, AttributeError):
        return None


def differences(stored: EngineKey, wanted: EngineKey) -> list[str]:
    """Human-readable 'field: stored -> wanted' for every field that differs."""
    out = []
    a, b = stored.to_dict(), wanted.to_dict()
    for name in a:
        if name == "env":
            out += [f"{k}: {a['env'][k]} -> {b['env'][k]}" for k in a["env"] if a["env"][k] != b["env"][k]]
        elif a[name] != b[name]:
            out.append(f"{name}: {a[name]} -> {b[name]}")
    return out


def check_engine(engine: Path, wanted: EngineKey) -> tuple[bool, str]:
    """(reusable, reason): whether `engine` may be loaded for `wanted`, and why not."""
    if not engine.is_file():
        return False, f"no engine at {engine}"
    stored = read_sidecar(engine)
    if stored is None:
        return False, f"{engine} has no readable sidecar {sidecar_path(engine).name}"
    changed = differences(stored, wanted)
    if changed:
        return False, f"{engine.name} was built for a different setup ({'; '.join(changed)})"
    return True, f"{engine.name} matches this GPU, TensorRT, model, precision and shapes"


def env_mismatch(engine: Path, env: EnvFacts) -> str | None:
    """For loading a given engine file: why it cannot run on `env`, or None when its sidecar agrees
    (or is absent: TensorRT itself then refuses an incompatible engine)."""
    stored = read_sidecar(engine)
    if stored is None or stored.env == env:
        return None
    a, b = dataclasses.asdict(stored.env), dataclasses.asdict(env)
    changed = [f"{k}: built {a[k]}, here {b[k]}" for k in a if a[k] != b[k]]
    return f"{engine} was built for another GPU or TensorRT ({'; '.join(changed)}); rebuild it with tpt-live export"


def get_or_build(
    key: EngineKey, build: Callable[[Path], None], path: Path | None = None, logger: logging.Logger = log
) -> tuple[Path, bool]:
    """The engine for `key`, reused from the cache or built now.

    build(tmp_path) must write a serialized engine to tmp_path; it is moved into place atomically with
    its sidecar, so a crashed build never leaves a half-written engine that looks valid.
    Returns (engine path, whether it was built now).
    """
    path = path or engine_path(key)
    ok, why = check_engine(path, key)
    if ok:
        logger.info("reusing cached TensorRT engine: %s", why)
        return path, False
    if path.is_file():
        logger.warning("rebuilding TensorRT engine, not loading the cached one: %s", why)
    else:
        logger.info("building TensorRT engine %s", path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    sidecar_path(path).unlink(missing_ok=True)  # the old key must not outlive the old engine
    fd, tmp = tempfile.mkstemp(suffix=".engine", dir=path.parent)
    os.close(fd)
    try:
        build(Path(tmp))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    write_sidecar(path, key)
    return path, True


def find_engines(
    model_digest: str, precision: str, env: EnvFacts, tool_version: str, root: Path | None = None
) -> list[Path]:
    """Cached engines for a model and precision built on this kind of GPU and TensorRT by this version."""
    folder = (root or cache_root()) / "engines"
    found = []
    for engine in sorted(folder.glob(f"{model_digest}-{precision}*.engine")):
        stored = read_sidecar(engine)
        if stored is None or (stored.env, stored.model_digest, stored.tool_version) != (
            env,
            model_digest,
            tool_version,
        ):
            continue
        if stored.precision == precision:
            found.append(engine)
    return found


def source_digest(src: str | Path) -> str:
    """Short digest identifying a calibration source: a file's bytes, or a folder's file names and sizes."""
    src = Path(src)
    h = hashlib.sha256()
    if src.is_dir():
        for f in sorted(p for p in src.iterdir() if p.is_file()):
            h.update(f"{f.name}:{f.stat().st_size}\n".encode())
    else:
        with open(src, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]
