"""tpt-live: real-time pose tracking with an unsupervised, template-based model (TPT, CVPR 2021)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tpt-live")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+local"
