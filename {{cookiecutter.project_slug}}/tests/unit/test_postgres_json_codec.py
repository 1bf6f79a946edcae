"""The connections' JSONB codec: binary (COPY takes every column in binary), exact both ways.

The contract suites store and read JSON on a real server; this checks the edges a server
never sends today: another binary version, text the fast scanner cannot read alone.
"""

from __future__ import annotations

import json

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.postgres.pool import (
    _jsonb_dumps,
    _jsonb_loads,
)


@pytest.mark.parametrize(
    "value", [{"a": [1, 2.5, "é", None, {"b": True}]}, [], {}, "text", 0, -1.5, True, None]
)
def test_a_value_round_trips_through_the_binary_form(value: object) -> None:
    data = _jsonb_dumps(value)
    assert data[0] == 1  # JSONB's binary format version, then the JSON text
    assert json.loads(data[1:]) == value
    assert _jsonb_loads(data) == value


def test_each_empty_list_and_dict_read_is_a_new_one() -> None:
    first, second = _jsonb_loads(b"\x01[]"), _jsonb_loads(b"\x01[]")
    assert first == second == []
    assert first is not second  # a caller may fill one in
    assert _jsonb_loads(b"\x01{}") == {}
    assert _jsonb_loads(b"\x01{}") is not _jsonb_loads(b"\x01{}")


def test_text_the_scanner_does_not_read_whole_goes_to_the_strict_decoder() -> None:
    assert _jsonb_loads(b'\x01 {"a": 1} ') == {"a": 1}  # surrounding whitespace
    with pytest.raises(json.JSONDecodeError):
        _jsonb_loads(b'\x01{"a": 1} trailing')
    with pytest.raises(json.JSONDecodeError):
        _jsonb_loads(b"\x01")


def test_an_unknown_binary_version_is_refused_not_misread() -> None:
    with pytest.raises(ValueError, match="version 2"):
        _jsonb_loads(b'\x02{"a": 1}')
