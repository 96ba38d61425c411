import importlib.util
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# The CPU kernels pinned as for the README's exact figures, before numpy and torch load, so
# that what the tests train (and the thresholds they check) is the same on every x86-64
# machine; a variable already set in the environment wins.
_spec = importlib.util.spec_from_file_location(
    "_cpu_env", Path(__file__).resolve().parents[1] / "neurodeploy" / "cpu_env.py")
_cpu_env = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cpu_env)
for _key, _value in _cpu_env.PORTABLE_CPU_ENV.items():
    os.environ.setdefault(_key, _value)
if "numpy" in sys.modules or "torch" in sys.modules:
    raise RuntimeError("numpy or torch was imported before tests/conftest.py could pin the CPU "
                       "kernels (neurodeploy.cpu_env); run pytest without plugins that load them")

sys.path.insert(0, str(Path(__file__).parent))  # tests/netgen.py

settings.register_profile(
    "ci", deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def snntorch_rnn_deployed(tmp_path_factory):
    """The snnTorch recurrent network of tests/test_snntorch_rnn.py, trained and deployed
    once per session: (folder, data set, held-out indices, snnTorch's decisions on them)."""
    import test_snntorch_rnn

    return test_snntorch_rnn.train_and_deploy(tmp_path_factory)
