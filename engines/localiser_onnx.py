"""The localisation stage (`tpt_live.localise`) on ONNX Runtime: export and an `OrtLocaliser`.

Graph: frames (B, S, S, 3) uint8 RGB, the whole frame letterboxed as `localise.letterboxed` does ->
`locations` (B, 5) float32, the `localiser_net.decode` rows (x, y, length in input pixels, angle in degrees
clockwise from up, score): `localiser_net.LocateGraph`, the step the PyTorch `Localiser` runs, traced whole.
The ONNX Runtime backend locates with it (`OrtBackend.open_localiser`), so `track` with the default
backend runs no PyTorch per frame.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from engines.ort_backend import import_ort, open_session
from tpt_live.errors import ModelError
from tpt_live.localise import Locator

log = logging.getLogger(__name__)

INPUT_NAME = "frames"
OUTPUT_NAME = "locations"
OPSET = 17


def export_localiser(path: str | Path | None, out: str | Path) -> Path:
    """Write the localiser file `path` (None: the shipped one) as ONNX at `out`; returns `out`."""
    import onnx
    import torch

    from tpt_live.localiser_net import load_localiser

    loc = load_localiser(path)  # on the CPU, in eval mode
    s = loc.size
    example = torch.randint(0, 256, (2, s, s, 3), dtype=torch.uint8)  # batch >= 2 keeps it dynamic
    out = Path(out)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                loc.graph,
                (example,),
                str(out),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=OPSET,
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                dynamo=False,
            )
    except (RuntimeError, torch.onnx.errors.OnnxExporterError) as exc:
        raise ModelError(f"ONNX export of the localiser failed: {exc}") from exc
    proto = onnx.load(str(out))
    onnx.helper.set_model_props(proto, {"format": "tpt-live/localiser-onnx"})
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(out))
    return out


def onnx_for_localiser(path: str | Path | None = None) -> Path:
    """The cached ONNX export of a localiser file (None: the shipped one), exported on first use."""
    from engines.select import cached_export
    from tpt_live.errors import InputError
    from tpt_live.localise import default_localiser_path

    if path is not None and not Path(path).is_file():
        raise InputError(f"localiser file {path} does not exist; check the path")
    return cached_export(Path(path) if path is not None else default_localiser_path(), "", export_localiser, log)


class OrtLocaliser(Locator):
    """The localiser with its network step on ONNX Runtime (the same `locate` as PyTorch's `Localiser`)."""

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        self.session = open_session(import_ort(), Path(path), device, threads)
        self.size = int(self.session.get_inputs()[0].shape[1])  # (B, S, S, 3): S is fixed in the graph

    def rows(self, batch: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) uint8 letterboxed frames -> (B, 5) float64 `decode` rows."""
        out = self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.uint8)})[0]
        return np.asarray(out, dtype=np.float64)
