"""Facts about the environment: package versions and which targets can run."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from neurodeploy.cluster import ENV_VAR, cluster_spec, dask_version
from neurodeploy.errors import InputError
from neurodeploy.targets import TARGETS
from neurodeploy.targets.lava import loihi_extension_available

PACKAGES = ("neurodeploy", "numpy", "numba", "torch", "lava-nc", "nir", "onnx", "onnxruntime",
            "h5py", "dask", "distributed")


def package_version(name: str) -> str | None:
    """Installed version of distribution ``name``, or None (never imports the package)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def parallel_jobs() -> str:
    """Where ``study`` commands run their jobs without ``--cluster``: the Dask cluster
    named by ``NEURODEPLOY_CLUSTER`` (not contacted here), else local processes."""
    try:
        spec = cluster_spec(None)
    except InputError as exc:
        return f"error: {exc}"
    if spec is None:
        return (f"local processes ({os.cpu_count() or 1} cores; {ENV_VAR} unset, "
                "--cluster not given)")
    dask = "" if dask_version() else "; Dask is not installed: pip install neurodeploy[cluster]"
    return f"{spec.describe()}{dask}"


def environment_report() -> dict:
    """Versions (Python and packages), target availability, the Loihi 2 extension and
    where parallel jobs run (``cluster``)."""
    versions = {"python": platform.python_version()}
    versions.update({name: package_version(name) for name in PACKAGES})
    return {
        "versions": versions,
        "targets": {name: info.available() for name, info in TARGETS.items()},
        "loihi_extension": loihi_extension_available(),
        "cluster": parallel_jobs(),
    }
