"""Engine cache keys and rebuild-on-mismatch, with the machine facts injected (no TensorRT needed)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from engines.engine_cache import (
    EngineKey,
    EnvFacts,
    check_engine,
    engine_path,
    env_mismatch,
    find_engines,
    get_or_build,
    read_sidecar,
    sidecar_path,
    source_digest,
)
from engines.trt_build import BuildSpec, build_engine, parse_batch
from tpt_live.errors import InputError

H100 = EnvFacts("NVIDIA H100 80GB HBM3", "9.0", "10.3.0")
A100 = EnvFacts("NVIDIA A100-SXM4-40GB", "8.0", "10.3.0")


def key(**changes: object) -> EngineKey:
    base = EngineKey(H100, "0123456789abcdef", "0.1.0", "fp16", 128, (1, 8, 32))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


class FakeBuild:
    """Stands in for TensorRT: writes a payload and counts calls."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def __call__(self, tmp: Path) -> None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("builder crashed")
        tmp.write_bytes(b"engine %d" % self.calls)


def test_key_round_trip_and_name() -> None:
    k = key(calibration="feedbeefcafe0000")
    assert EngineKey.from_dict(k.to_dict()) == k
    # the file name depends on the request, not on the machine
    assert k.request_name() == dataclasses.replace(k, env=A100).request_name()
    assert k.request_name() != key(precision="int8").request_name()
    assert k.request_name() != key(batch=(1, 4, 16)).request_name()
    with pytest.raises(ValueError):
        key(batch=(4, 2, 8))


def test_build_once_then_reuse(tmp_path: Path) -> None:
    build = FakeBuild()
    path = engine_path(key(), tmp_path)
    first, built = get_or_build(key(), build, path)
    assert built and first == path and path.read_bytes() == b"engine 1"
    assert read_sidecar(path) == key()
    again, built = get_or_build(key(), build, path)
    assert not built and build.calls == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"env": EnvFacts("NVIDIA H100 80GB HBM3", "9.0", "10.4.0")}, "tensorrt"),
        ({"env": A100}, "gpu"),
        ({"model_digest": "ffffffffffffffff"}, "model_digest"),
        ({"tool_version": "0.2.0"}, "tool_version"),
    ],
)
def test_mismatch_rebuilds_with_a_clear_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, change: dict, field: str
) -> None:
    build = FakeBuild()
    path = tmp_path / "m.engine"
    get_or_build(key(), build, path)
    with caplog.at_level(logging.INFO):
        _, built = get_or_build(key(**change), build, path)
    assert built and build.calls == 2 and path.read_bytes() == b"engine 2"
    assert read_sidecar(path) == key(**change)
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "rebuilding" in message and field in message


def test_missing_sidecar_is_never_trusted(tmp_path: Path) -> None:
    build = FakeBuild()
    path = tmp_path / "m.engine"
    get_or_build(key(), build, path)
    sidecar_path(path).unlink()
    ok, why = check_engine(path, key())
    assert not ok and "sidecar" in why
    _, built = get_or_build(key(), build, path)
    assert built


def test_failed_build_leaves_no_engine(tmp_path: Path) -> None:
    path = tmp_path / "m.engine"
    with pytest.raises(RuntimeError):
        get_or_build(key(), FakeBuild(fail=True), path)
    assert not path.exists() and not sidecar_path(path).exists()
    assert list(tmp_path.iterdir()) == []


def test_env_mismatch_on_load(tmp_path: Path) -> None:
    path = tmp_path / "m.engine"
    get_or_build(key(), FakeBuild(), path)
    assert env_mismatch(path, H100) is None
    reason = env_mismatch(path, A100)
    assert reason is not None and "A100" in reason and "compute_capability" in reason


def test_find_engines_filters_by_machine_model_and_precision(tmp_path: Path) -> None:
    for k in (key(), key(precision="fp32"), key(batch=(1, 1, 1))):
        get_or_build(k, FakeBuild(), engine_path(k, tmp_path))
    assert len(find_engines("0123456789abcdef", "fp16", H100, "0.1.0", tmp_path)) == 2
    assert len(find_engines("0123456789abcdef", "fp32", H100, "0.1.0", tmp_path)) == 1
    assert find_engines("0123456789abcdef", "fp16", A100, "0.1.0", tmp_path) == []
    assert find_engines("0123456789abcdef", "fp16", H100, "0.2.0", tmp_path) == []


def test_build_engine_with_injected_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """trt_build.build_engine: key from the ONNX metadata, cache, copy to --out, rebuild on a new TensorRT."""
    monkeypatch.setenv("TPT_LIVE_CACHE", str(tmp_path / "cache"))
    import onnx

    onnx_path = tmp_path / "m.onnx"
    proto = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))
    onnx.helper.set_model_props(proto, {"input_size": "64", "model_digest": "abcdabcdabcdabcd", "tool_version": "9"})
    onnx.save(proto, str(onnx_path))
    calls: list[tuple] = []

    def fake(onnx_in: Path, out: Path, spec: BuildSpec, calib: object, calib_cache: object) -> None:
        calls.append((onnx_in, spec.precision, spec.batch))
        out.write_bytes(b"plan")

    spec = BuildSpec(precision="fp16", batch=(1, 2, 4))
    out, built = build_engine(onnx_path, tmp_path / "out.engine", spec, env=H100, build=fake)
    assert built and out.read_bytes() == b"plan" and read_sidecar(out) is not None
    assert read_sidecar(out).model_digest == "abcdabcdabcdabcd"  # type: ignore[union-attr]
    _, built = build_engine(onnx_path, tmp_path / "out.engine", spec, env=H100, build=fake)
    assert not built and len(calls) == 1
    newer = dataclasses.replace(H100, tensorrt="10.9.0")
    _, built = build_engine(onnx_path, tmp_path / "out.engine", spec, env=newer, build=fake)
    assert built and read_sidecar(out).env == newer  # type: ignore[union-attr]
    with pytest.raises(InputError, match="--calib"):
        build_engine(onnx_path, tmp_path / "q.engine", BuildSpec(precision="int8"), env=H100, build=fake)


def test_int8_key_follows_the_calibration_source(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"1")
    before = source_digest(folder)
    (folder / "b.png").write_bytes(b"22")
    assert source_digest(folder) != before
    assert key(calibration=before).request_name() != key(calibration=source_digest(folder)).request_name()


def test_parse_batch_and_spec() -> None:
    assert parse_batch("1:8:32") == (1, 8, 32)
    assert parse_batch("4") == (4, 4, 4)
    for bad in ("8:1:32", "a:b:c", "1:2", "0:1:2"):
        with pytest.raises(InputError, match="--batch"):
            parse_batch(bad)
    with pytest.raises(InputError):
        BuildSpec(precision="bf16")
    with pytest.raises(InputError):
        BuildSpec(workspace_gb=0)
