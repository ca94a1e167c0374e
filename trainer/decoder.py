"""The decoder (training only): appearance + warped template of the pose frame -> reconstruction.

The pose frame's figure can reach the decoder only through the warped template (METHOD.md 1.4): the
appearance frame is shown with its own figure region blanked out (the region its own predicted
template covers, without gradient), and its colours enter as one mean colour per part. The decoder
thus cannot paint the pose frame's body by copying the appearance frame; it must use the template,
and the regressor gets a signal. `mask_appearance=False` gives the paper's plain decoder input.

For speed on CPUs the U-Net works at half resolution; a last full-resolution layer sees the blanked
appearance frame and the painted template again.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from tpt_live.checkpoint import read_meta, shipped_file, write_weights
from tpt_live.errors import ModelError

DECODER_FORMAT = "tpt-live/decoder"
DECODER_VERSION = 1


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
    )


def part_colours(image: Tensor, parts: Tensor) -> Tensor:
    """Mean colour under each part: image (B, 3, S, S), parts (B, K, S, S) >= 0 -> (B, K, 3)."""
    weight = parts.flatten(2)
    total = weight.sum(-1, keepdim=True).clamp_min(1e-3)
    return torch.einsum("bkn,bcn->bkc", weight, image.flatten(2)) / total


def paint_parts(parts: Tensor, colours: Tensor) -> Tensor:
    """Colour each part's map: parts (B, K, S, S), colours (B, K, 3) -> (B, 3, S, S)."""
    total = parts.sum(1, keepdim=True)
    painted = torch.einsum("bkhw,bkc->bchw", parts, colours) / (total + 1e-3)
    return painted * total.clamp(max=1.0)


class Decoder(nn.Module):
    """Half-resolution U-Net with skips plus a full-resolution output layer.

    forward(appearance (B,3,S,S), mask (B,1,S,S), template (B,K,S,S), painted (B,3,S,S)) -> (B,3,S,S) in [0,1].
    """

    def __init__(self, num_parts: int, widths: tuple[int, ...] = (32, 64, 128), head: int = 16) -> None:
        super().__init__()
        self.num_parts, self.widths = num_parts, tuple(widths)
        full = 3 + 1 + 3
        cin = full + num_parts
        self.downs = nn.ModuleList()
        for w in widths:
            self.downs.append(_block(cin, w))
            cin = w
        self.ups = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.ups.append(_block(cin + w, w))
            cin = w
        self.head = nn.Sequential(
            nn.Conv2d(cin + full, head, 3, padding=1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(head, 3, 1)
        )

    def forward(self, appearance: Tensor, mask: Tensor, template: Tensor, painted: Tensor) -> Tensor:
        full = torch.cat([appearance * (1 - mask), mask, painted], 1)
        h = F.avg_pool2d(torch.cat([full, template], 1), 2)
        skips = []
        for i, block in enumerate(self.downs):
            h = block(h if i == 0 else F.avg_pool2d(h, 2))
            skips.append(h)
        for block, skip in zip(self.ups, reversed(skips[:-1]), strict=True):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = block(torch.cat([h, skip], 1))
        h = F.interpolate(h, size=full.shape[-2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(self.head(torch.cat([h, full], 1)))


def decoder_shape(decoder: Decoder) -> dict[str, object]:
    """What a saved decoder must match to be loaded: the number of template parts and the widths."""
    return {"num_parts": decoder.num_parts, "decoder_widths": list(decoder.widths)}


def save_decoder(decoder: Decoder, path: Path, extra: dict | None = None) -> Path:
    """The decoder's weights and batch-norm statistics (`RUN/decoder.safetensors` and its JSON sidecar), in
    the layout of every tpt-live weights file (`tpt_live.checkpoint.write_weights`, format "tpt-live/decoder")."""
    meta = {"format": DECODER_FORMAT, "format_version": DECODER_VERSION, **(extra or {})}
    meta["config"] = {**meta.get("config", {}), **decoder_shape(decoder)}
    return write_weights(path, dict(decoder.state_dict()), meta)


def load_decoder(decoder: Decoder, name: str) -> Path:
    """Start `decoder` from a saved one: a file written by `save_decoder` (any run's `decoder.safetensors`), or
    "default", the decoder shipped beside the default model (`tpt_live/weights/decoder.safetensors`). Returns
    the file. ModelError when it is missing, not a decoder file, or was saved for other parts or `decoder_widths`."""
    path = shipped_file("decoder.safetensors") if name == "default" else Path(name)
    if not path.is_file():
        raise ModelError(f"decoder file {path} not found (decoder_init: a run's decoder.safetensors or 'default')")
    config = read_meta(path, DECODER_FORMAT, DECODER_VERSION, "decoder").get("config", {})
    want = decoder_shape(decoder)
    got = {k: config.get(k) for k in want}
    if got != want:
        raise ModelError(
            f"{path} was saved for {got}, this run has {want}; it must come from a run with the same template "
            "and decoder_widths"
        )
    try:
        decoder.load_state_dict(load_file(str(path)))
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"{path} does not fit this decoder ({' '.join(str(exc).split())[:160]})") from None
    return path
