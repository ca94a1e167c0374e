"""Typed user-facing errors. The CLI turns each into one line on stderr and an exit code."""


class TptError(Exception):
    """Base class: a problem the user can fix. The message says what was wrong and how to fix it."""

    exit_code = 1


class InputError(TptError):
    """A bad argument, path or file given by the user."""

    exit_code = 2


class SourceError(TptError):
    """A video source that cannot be opened or read (missing file, camera, lost stream)."""

    exit_code = 3


class SourceUnavailable(SourceError):
    """A live source (camera, stream) that cannot be reached now but may come back: worth opening again."""


class ModelError(TptError):
    """A checkpoint, ONNX file or engine that cannot be loaded or does not match."""

    exit_code = 4


class BackendUnavailable(TptError):
    """An optional runtime (TensorRT, CUDA, ONNX Runtime GPU) is missing on this machine."""

    exit_code = 5
