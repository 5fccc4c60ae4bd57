"""Unit tests of `aeries_source.status`: statuses from Aeries absence-code TypeCodes."""


import pytest

from aeries_source.status import PRESENT, is_absence, is_tardy, status_for_type_code


@pytest.mark.parametrize(
    "type_code, status, absence, tardy",
    [
        pytest.param(1, "absent_unverified", True, False, id="1-unverified-absence"),
        pytest.param(2, "absent_excused", True, False, id="2-excused-absence"),
        pytest.param(3, "absent_unexcused", True, False, id="3-unexcused-absence"),
        pytest.param(4, PRESENT, False, False, id="4-verified-not-absent"),
        pytest.param(5, "tardy", False, True, id="5-tardy"),
        pytest.param(6, PRESENT, False, False, id="6-present"),
        pytest.param(7, None, False, False, id="7-unused-unknown"),
        pytest.param(8, "tardy_excused", False, True, id="8-verified-excused-tardy"),
        pytest.param(9, "tardy_unexcused", False, True, id="9-verified-unexcused-tardy"),
        pytest.param(0, None, False, False, id="0-unknown"),
        pytest.param(10, None, False, False, id="10-unknown"),
        pytest.param(-1, None, False, False, id="negative-unknown"),
    ],
)
def test_type_code_mapping(type_code: int, status: str | None, absence: bool, tardy: bool) -> None:
    assert status_for_type_code(type_code) == status
    assert is_absence(type_code) is absence
    assert is_tardy(type_code) is tardy


def test_present_constant() -> None:
    assert PRESENT == "present"


@pytest.mark.parametrize("type_code", [pytest.param(c, id=f"type-{c}") for c in range(1, 10)])
def test_absence_and_tardy_are_exclusive(type_code: int) -> None:
    assert not (is_absence(type_code) and is_tardy(type_code))
