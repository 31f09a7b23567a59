import pytest

from banger.daemon.peer import peer_allowed
from banger.errors import InvalidArgument
from banger.names import validate_name


@pytest.mark.parametrize("name", ["a", "dev-1", "x" * 63, "0abc"])
def test_valid_names(name: str) -> None:
    assert validate_name("vm", name) == name


@pytest.mark.parametrize("name", ["", "-a", "a-", "A", "a_b", "a/b", "..", "x" * 64, "a b", "é"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid vm name"):
        validate_name("vm", name)


def test_peer_rules() -> None:
    assert peer_allowed(1, 0, 0, 1000, daemon_uid=0)
    assert peer_allowed(1, 1234, 1000, 1000, daemon_uid=0)
    assert not peer_allowed(1, 1234, 1234, 1000, daemon_uid=0)
    assert not peer_allowed(1, 1234, 1234, None, daemon_uid=0)
