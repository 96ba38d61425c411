import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

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
