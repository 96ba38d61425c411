"""Facts about the environment: package versions and which targets can run."""

from __future__ import annotations

import platform
from importlib import metadata

from neurodeploy.targets import TARGETS
from neurodeploy.targets.lava import loihi_extension_available

PACKAGES = ("neurodeploy", "numpy", "torch", "lava-nc", "nir", "onnx", "onnxruntime", "h5py")


def package_version(name: str) -> str | None:
    """Installed version of distribution ``name``, or None (never imports the package)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment_report() -> dict:
    """Versions (Python and packages), target availability and the Loihi 2 extension."""
    versions = {"python": platform.python_version()}
    versions.update({name: package_version(name) for name in PACKAGES})
    return {
        "versions": versions,
        "targets": {name: info.available() for name, info in TARGETS.items()},
        "loihi_extension": loihi_extension_available(),
    }
