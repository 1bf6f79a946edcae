"""The fast paths of the in-process query evaluation agree with its reference definitions.

``sort_records`` (one native sort per run of keys sharing a direction), ``first_records`` (a
bounded heap on the leading run), ``sort_key`` (the keyset bound) and
``compile_filter`` (one closure per filter) replaced a comparison function and a tree walk per
record; the reference functions ``compare_keys`` and ``matches`` stay the definition. Checked
on seeded random records with nulls, mixed case, enums, nested paths and mixed directions.
"""

from __future__ import annotations

import enum
import random
from functools import cmp_to_key
from typing import Any

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.evaluation import (
    after_keyset,
    compare_keys,
    compile_filter,
    first_records,
    matches,
    sort_key_values,
    sort_records,
)
from {{cookiecutter.package_name}}.ports.query import And, Condition, Filter, Op, Or, SortField


class Level(enum.StrEnum):
    LOW = "low"
    MID = "mid"
    HIGH = "high"


Record = dict[str, Any]


def reference_sort(records: list[Record], sort: tuple[SortField, ...]) -> list[Record]:
    def compare(a: Record, b: Record) -> int:
        return compare_keys(sort_key_values(a, sort), sort_key_values(b, sort), sort)

    return sorted(records, key=cmp_to_key(compare))


def random_records(rng: random.Random) -> list[Record]:
    return [
        {
            "id": f"r{i:02d}",
            "n": rng.choice([None, 1, 2, 3, 2.5]),
            "s": rng.choice([None, "x", "y", "Y", ""]),
            "level": rng.choice([None, *Level]),
            "nested": {"k": rng.choice([None, 1, 2])},
        }
        for i in range(rng.randint(0, 12))
    ]


def random_sort(rng: random.Random) -> tuple[SortField, ...]:
    fields = rng.sample(["n", "s", "level", "nested.k"], rng.randint(1, 3))
    chosen = tuple(SortField(f, rng.random() < 0.5) for f in fields)
    return (*chosen, SortField("id", rng.random() < 0.5))


CONDITIONS = [
    Condition("n", Op.EQ, 2),
    Condition("n", Op.NE, None),
    Condition("n", Op.GTE, 2),
    Condition("n", Op.EXISTS, True),
    Condition("s", Op.IN, ("x", "y")),
    Condition("s", Op.NOT_EXISTS, True),
    Condition("s", Op.ICONTAINS, "y"),
    Condition("level", Op.EQ, Level.LOW),
    Condition("nested.k", Op.EQ, 1),
]


def random_filter(rng: random.Random) -> Filter:
    shape = rng.randrange(4)
    if shape == 0:
        return rng.choice(CONDITIONS)
    if shape == 1:
        return And(tuple(rng.sample(CONDITIONS, rng.randint(1, 3))))
    if shape == 2:
        return Or(tuple(rng.sample(CONDITIONS, 2)))
    return And((rng.choice(CONDITIONS), Or(tuple(rng.sample(CONDITIONS, 2)))))


@pytest.mark.parametrize("seed", range(5))
def test_sorting_and_top_n_order_like_compare_keys(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        records, sort = random_records(rng), random_sort(rng)
        expected = reference_sort(records, sort)
        assert sort_records(records, sort) == expected
        count = rng.randint(0, 14)
        assert first_records(records, sort, count) == expected[:count]
        assert first_records(iter(records), sort, count) == expected[:count]


@pytest.mark.parametrize("seed", range(5))
def test_keyset_bound_matches_compare_keys(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        records, sort = random_records(rng), random_sort(rng)
        if not records:
            continue
        after = sort_key_values(rng.choice(records), sort)
        expected = [r for r in records if compare_keys(sort_key_values(r, sort), after, sort) > 0]
        assert after_keyset(records, sort, after) == expected


@pytest.mark.parametrize("seed", range(5))
def test_compiled_filters_match_like_the_tree_walk(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        tree = random_filter(rng)
        test = compile_filter(tree)
        for record in random_records(rng):
            assert test(record) == matches(record, tree), (tree, record)
    assert compile_filter(None)({"anything": 1})
