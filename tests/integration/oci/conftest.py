import shutil
from collections.abc import Iterator

import pytest

from tests.helpers.registry import RunningRegistry, start_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    with start_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running
