"""The repository contract: one suite, every backend (see tests/support/backends.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    ConditionFailed,
    InvalidCursor,
    InvalidInput,
    InvalidQuery,
    NotFound,
)
from {{cookiecutter.package_name}}.ports.query import Query
from {{cookiecutter.package_name}}.ports.repository import Populated, Repository

from tests.support.entities import (
    Dimensions,
    Label,
    Owner,
    Session,
    Status,
    Team,
    Widget,
    WidgetLabel,
)

UTC = dt.UTC


def widgets(provider: RepositoryProvider) -> Repository[Widget]:
    return provider.of(Widget)


def make(n: int, **overrides: Any) -> Widget:
    values: dict[str, Any] = {
        "id": f"w{n:03d}",
        "sku": f"SKU-{n:03d}",
        "name": f"widget {n}",
        "price": Decimal(f"{n}.50"),
        "quantity": n,
        "created_at": dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(days=n),
    }
    values.update(overrides)
    return Widget(**values)


# --- create and read ---------------------------------------------------------------------------


async def test_add_then_get_round_trips_every_type(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    original = Widget(
        sku="A-1",
        name="Gear",
        barcode="0001",
        price=Decimal("19.99"),
        quantity=3,
        weight=0.1,
        active=False,
        status=Status.ARCHIVED,
        tags=["b", "a"],
        labels={"x", "y"},
        created_at=dt.datetime(2024, 5, 17, 10, 30, 15, 123000, tzinfo=UTC),
        released_on=dt.date(2024, 6, 1),
        ref=uuid.UUID("12345678-1234-5678-1234-567812345678"),
        dims=Dimensions(width=1.5, height=2.25, unit="mm"),
        attributes={"color": "red", "sizes": [1, 2], "nested": {"ok": True}},
    )
    stored = await repo.add(original)
    assert stored.version == 1
    assert original.version == 0, "the caller's object is not mutated"
    loaded = await repo.get(original.id)
    assert loaded == stored
    assert isinstance(loaded.price, Decimal)
    assert isinstance(loaded.dims, Dimensions)
    assert loaded.status is Status.ARCHIVED
    assert loaded.created_at.tzinfo is not None


async def test_round_trip_is_stable_over_load_modify_save(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    stored = await repo.add(make(1, price=Decimal("0.10"), weight=0.3))
    for _ in range(3):
        current = await repo.get_or_raise(stored.id)
        stored = await repo.update(current)
    final = await repo.get_or_raise(stored.id)
    assert final.price == Decimal("0.10")
    assert final.weight == 0.3
    assert final.version == 4


async def test_get_missing(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    assert await repo.get("nope") is None
    with pytest.raises(NotFound):
        await repo.get_or_raise("nope")


async def test_returned_entities_do_not_share_state(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    stored = await repo.add(make(1, tags=["a"]))
    loaded = await repo.get_or_raise(stored.id)
    loaded.tags.append("mutated")
    assert (await repo.get_or_raise(stored.id)).tags == ["a"]


async def test_get_many_keeps_order_and_skips_missing(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    a, b, c = [await repo.add(make(i)) for i in range(3)]
    result = await repo.get_many([c.id, "missing", a.id, c.id])
    assert [w.id for w in result] == [c.id, a.id]
    assert await repo.get_many([]) == []
    assert b.id not in {w.id for w in result}


async def test_get_by_unique_and_indexed_field(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    stored = await repo.add(make(7, owner_id="o-1"))
    assert (await repo.get_by("sku", "SKU-007")) == stored
    assert (await repo.get_by("owner_id", "o-1")) == stored
    assert await repo.get_by("sku", "none") is None
    with pytest.raises(InvalidQuery):
        await repo.get_by("no_such_field", 1)


# --- uniqueness --------------------------------------------------------------------------------


async def test_duplicate_id_is_rejected(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    first = await repo.add(make(1))
    with pytest.raises(AlreadyExists) as info:
        await repo.add(make(2, id=first.id))
    assert info.value.field == "id"
    assert (await repo.get_or_raise(first.id)).sku == "SKU-001"


async def test_duplicate_unique_value_is_rejected_and_changes_nothing(
    provider: RepositoryProvider,
) -> None:
    repo = widgets(provider)
    await repo.add(make(1))
    with pytest.raises(AlreadyExists) as info:
        await repo.add(make(2, sku="SKU-001"))
    assert info.value.field == "sku"
    assert await repo.count() == 1


async def test_null_unique_values_never_collide(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    await repo.add(make(1, barcode=None))
    await repo.add(make(2, barcode=None))
    assert await repo.count({"barcode": None}) == 2


async def test_unique_values_are_released_by_delete_and_update(
    provider: RepositoryProvider,
) -> None:
    repo = widgets(provider)
    first = await repo.add(make(1))
    await repo.delete(first.id)
    second = await repo.add(make(2, sku="SKU-001"))
    await repo.update_fields(second.id, {"sku": "SKU-NEW"})
    third = await repo.add(make(3, sku="SKU-001"))
    assert third.sku == "SKU-001"
    with pytest.raises(AlreadyExists):
        await repo.update_fields(third.id, {"sku": "SKU-NEW"})
    assert (await repo.get_or_raise(third.id)).sku == "SKU-001"


# --- updates, versions and conditions --------------------------------------------------------


async def test_update_bumps_version_and_rejects_stale_writes(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    stored = await repo.add(make(1))
    fresh = await repo.update(Widget(**{**stored.__dict__, "name": "renamed"}))
    assert fresh.version == 2
    with pytest.raises(ConcurrencyConflict):
        await repo.update(Widget(**{**stored.__dict__, "name": "stale"}))
    assert (await repo.get_or_raise(stored.id)).name == "renamed"


async def test_update_missing_is_not_found(provider: RepositoryProvider) -> None:
    with pytest.raises(NotFound):
        await widgets(provider).update(make(1, version=1))


async def test_update_fields(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    stored = await repo.add(make(1))
    updated = await repo.update_fields(stored.id, {"name": "new", "quantity": 9})
    assert (updated.name, updated.quantity, updated.version) == ("new", 9, 2)
    assert await repo.get_or_raise(stored.id) == updated
    with pytest.raises(ConcurrencyConflict):
        await repo.update_fields(stored.id, {"name": "x"}, expected_version=1)
    again = await repo.update_fields(stored.id, {"name": "y"}, expected_version=2)
    assert again.version == 3
    with pytest.raises(InvalidInput):
        await repo.update_fields(stored.id, {"nope": 1})
    with pytest.raises(InvalidInput):
        await repo.update_fields(stored.id, {"id": "other"})
    with pytest.raises(NotFound):
        await repo.update_fields("missing", {"name": "x"})
    assert (await repo.get_or_raise(stored.id)).name == "y"


@pytest.mark.parametrize(
    ("conditions", "passes"),
    [
        ({"status": "active"}, True),
        ({"status": "archived"}, False),
        ({"quantity": {"lt": 10}}, True),
        ({"quantity": {"gte": 90}}, False),
        ({"quantity": {"between": [1, 5]}}, True),
        ({"status": {"in": ["draft", "archived"]}}, False),
        ({"tags": {"contains": "urgent"}}, True),
        ({"name": {"begins_with": "widget"}}, True),
        ({"barcode": {"exists": True}}, False),
        ({"barcode": {"not_exists": True}}, True),
        ({"barcode": {"exists": False}}, True),
        ({"status": "active", "active": True}, True),
        ({"status": "active", "active": False}, False),
        ({"or": [{"quantity": 100}, {"name": "widget 3"}]}, True),
    ],
)
async def test_conditional_update_dict_syntax(
    provider: RepositoryProvider, conditions: dict[str, Any], passes: bool
) -> None:
    repo = widgets(provider)
    stored = await repo.add(make(3, tags=["urgent"]))
    if passes:
        updated = await repo.update_fields(stored.id, {"name": "done"}, conditions=conditions)
        assert updated.name == "done"
    else:
        with pytest.raises(ConditionFailed) as info:
            await repo.update_fields(
                stored.id, {"name": "done"}, conditions=conditions, rejection_message="no way"
            )
        assert info.value.message == "no way"
        assert (await repo.get_or_raise(stored.id)) == stored


async def test_conditional_update_with_bad_condition_is_invalid_query(
    provider: RepositoryProvider,
) -> None:
    repo = widgets(provider)
    stored = await repo.add(make(1))
    with pytest.raises(InvalidQuery):
        await repo.update_fields(stored.id, {"name": "x"}, conditions={"nope": 1})
    with pytest.raises(InvalidQuery):
        await repo.update(stored, conditions={"quantity": {"gt": 1, "lt": 5, "sometimes": 2}})
    assert (await repo.get_or_raise(stored.id)) == stored


async def test_upsert_inserts_then_replaces(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    widget = make(1)
    inserted = await repo.upsert(widget)
    assert inserted.version == 1
    replaced = await repo.upsert(make(1, id=widget.id, name="replaced"))
    assert (replaced.name, replaced.version) == ("replaced", 2)
    assert await repo.count() == 1


async def test_upsert_respects_unique_fields(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    await repo.add(make(1))
    with pytest.raises(AlreadyExists):
        await repo.upsert(make(2, sku="SKU-001"))
    assert await repo.count() == 1


async def test_delete(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    stored = await repo.add(make(1))
    with pytest.raises(ConcurrencyConflict):
        await repo.delete(stored.id, expected_version=5)
    with pytest.raises(ConditionFailed):
        await repo.delete(stored.id, conditions={"status": "archived"})
    assert await repo.exists({"id": stored.id})
    await repo.delete(stored.id, expected_version=1, conditions={"status": "active"})
    assert await repo.get(stored.id) is None
    with pytest.raises(NotFound):
        await repo.delete(stored.id)


async def test_batches(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    stored = await repo.add_many([make(i) for i in range(30)])
    assert [w.version for w in stored] == [1] * 30
    assert await repo.count() == 30
    assert await repo.delete_many([w.id for w in stored[:10]] + ["missing"]) == 10
    assert await repo.count() == 20
    assert await repo.add_many([]) == []


async def test_add_many_is_all_or_nothing(provider: RepositoryProvider) -> None:
    repo = widgets(provider)
    await repo.add(make(1))
    with pytest.raises(AlreadyExists):
        await repo.add_many([make(2), make(3), make(4, sku="SKU-001")])
    with pytest.raises(AlreadyExists):
        await repo.add_many([make(5), make(6, sku="SKU-005")])
    assert await repo.count() == 1


# --- queries -----------------------------------------------------------------------------------


@pytest.fixture
async def catalogue(provider: RepositoryProvider) -> list[Widget]:
    items = [
        make(
            1,
            name="Alpha gear",
            tags=["red", "big"],
            status=Status.ACTIVE,
            weight=1.0,
            barcode="B1",
            dims=Dimensions(10, 5),
            released_on=dt.date(2024, 1, 10),
        ),
        make(
            2,
            name="beta Gear",
            tags=["blue"],
            status=Status.DRAFT,
            weight=None,
            dims=Dimensions(20, 5),
            active=False,
        ),
        make(
            3,
            name="Gamma bolt",
            tags=[],
            status=Status.ARCHIVED,
            weight=3.5,
            barcode="B3",
            released_on=dt.date(2024, 3, 1),
        ),
        make(
            4,
            name="delta Bolt",
            tags=["red"],
            status=Status.ACTIVE,
            weight=2.0,
            dims=Dimensions(5, 50),
        ),
        make(
            5,
            name="Epsilon nut",
            tags=["small"],
            status=Status.ACTIVE,
            weight=None,
            released_on=dt.date(2024, 2, 1),
        ),
    ]
    return await widgets(provider).add_many(items)


FILTER_CASES: list[tuple[dict[str, Any], set[int]]] = [
    ({"quantity": 3}, {3}),
    ({"quantity": {"eq": 3}}, {3}),
    ({"quantity": {"ne": 3}}, {1, 2, 4, 5}),
    ({"quantity": {"lt": 3}}, {1, 2}),
    ({"quantity": {"lte": 3}}, {1, 2, 3}),
    ({"quantity": {"le": 3}}, {1, 2, 3}),
    ({"quantity": {"gt": 3}}, {4, 5}),
    ({"quantity": {"gte": 3}}, {3, 4, 5}),
    ({"quantity": {"ge": 3}}, {3, 4, 5}),
    ({"quantity": {"gt": 1, "lt": 5}}, {2, 3, 4}),
    ({"quantity": {"between": [2, 4]}}, {2, 3, 4}),
    ({"quantity": {"in": [1, 5, 99]}}, {1, 5}),
    ({"quantity": [1, 5]}, {1, 5}),
    ({"quantity": {"not_in": [1, 5]}}, {2, 3, 4}),
    ({"status": "active"}, {1, 4, 5}),
    ({"status": ["draft", "archived"]}, {2, 3}),
    ({"active": False}, {2}),
    ({"price": {"gte": "3.50"}}, {3, 4, 5}),
    ({"price": {"lt": 2.6}}, {1, 2}),
    ({"weight": None}, {2, 5}),
    ({"weight": {"exists": True}}, {1, 3, 4}),
    ({"weight": {"exists": False}}, {2, 5}),
    ({"weight": {"not_exists": True}}, {2, 5}),
    ({"weight": {"ne": 1.0}}, {2, 3, 4, 5}),
    ({"weight": {"gt": 1.5}}, {3, 4}),
    ({"barcode": {"not_in": ["B1"]}}, {2, 3, 4, 5}),
    ({"name": {"contains": "Gear"}}, {2}),
    ({"name": {"icontains": "gear"}}, {1, 2}),
    ({"name": {"begins_with": "Gamma"}}, {3}),
    ({"name": {"startswith": "Gamma"}}, {3}),
    ({"name": {"istartswith": "DELTA"}}, {4}),
    ({"name": {"endswith": "bolt"}}, {3}),
    ({"name": {"iendswith": "BOLT"}}, {3, 4}),
    ({"tags": {"contains": "red"}}, {1, 4}),
    ({"created_at": {"gte": "2024-01-04T00:00:00+00:00"}}, {3, 4, 5}),
    ({"created_at": {"lt": "2024-01-03"}}, {1}),
    ({"released_on": {"between": ["2024-01-01", "2024-02-15"]}}, {1, 5}),
    ({"dims.width": {"gte": 10}}, {1, 2}),
    ({"dims.height": 5}, {1, 2}),
    ({"dims": {"exists": False}}, {3, 5}),
    ({"or": [{"quantity": 1}, {"status": "archived"}]}, {1, 3}),
    ({"or": [{"quantity": {"lt": 3}}, {"name": {"iendswith": "nut"}}], "active": True}, {1, 5}),
    ({"and": [{"status": "active"}, {"or": [{"quantity": 1}, {"quantity": 5}]}]}, {1, 5}),
    ({"status": "active", "tags": {"contains": "red"}, "weight": {"gte": 2}}, {4}),
]


@pytest.mark.parametrize(("filter_", "expected"), FILTER_CASES, ids=lambda v: str(v))
async def test_filter_operators(
    provider: RepositoryProvider,
    catalogue: list[Widget],
    filter_: dict[str, Any],
    expected: set[int],
) -> None:
    repo = widgets(provider)
    found = await repo.find(Query(filter=filter_))
    assert {w.quantity for w in found.items} == expected
    assert await repo.count(filter_) == len(expected)
    assert await repo.exists(filter_) == bool(expected)


@pytest.mark.parametrize(
    "bad_filter",
    [
        {"nope": 1},
        {"quantity": {"gt": 1, "whatever": 2}},
        {"quantity": {"between": [1]}},
        {"quantity": {"in": 3}},
        {"quantity": "three"},
        {"quantity": {"icontains": "x"}},
        {"name": {"gt": None}},
        {"weight": {"exists": "yes"}},
        {"or": []},
        {"or": {"quantity": 1}},
        {"dims.depth": 1},
        {"status": "melted"},
        {"created_at": {"gt": "not a date"}},
        {"owner.name": "Ada"},
    ],
    ids=lambda v: str(v),
)
async def test_bad_filters_are_invalid_queries(
    provider: RepositoryProvider, catalogue: list[Widget], bad_filter: dict[str, Any]
) -> None:
    repo = widgets(provider)
    with pytest.raises(InvalidQuery):
        await repo.find(Query(filter=bad_filter))
    with pytest.raises(InvalidQuery):
        await repo.count(bad_filter)


async def test_sort_orders_with_nulls_first(
    provider: RepositoryProvider, catalogue: list[Widget]
) -> None:
    repo = widgets(provider)
    by_weight = await repo.find(Query(sort="weight"))
    assert [w.quantity for w in by_weight.items] == [2, 5, 1, 4, 3]
    by_weight_desc = await repo.find(Query(sort="-weight"))
    assert [w.quantity for w in by_weight_desc.items] == [3, 4, 1, 2, 5]
    multi = await repo.find(Query(sort=["status", "-quantity"]))
    assert [w.quantity for w in multi.items] == [5, 4, 1, 3, 2]
    with pytest.raises(InvalidQuery):
        await repo.find(Query(sort="tags"))
    with pytest.raises(InvalidQuery):
        await repo.find(Query(sort="nope"))


@pytest.mark.parametrize("sort", [None, "name", "-created_at", "weight", "-weight,quantity"])
async def test_cursor_pages_cover_everything_once(
    provider: RepositoryProvider, catalogue: list[Widget], sort: str | None
) -> None:
    repo = widgets(provider)
    everything = [w.id for w in (await repo.find(Query(sort=sort))).items]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        page = await repo.find(Query(sort=sort, limit=2, cursor=cursor))
        seen.extend(w.id for w in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == everything
    assert len(everything) == 5


async def test_offset_pages(provider: RepositoryProvider, catalogue: list[Widget]) -> None:
    repo = widgets(provider)
    first = await repo.find(Query(sort="quantity", limit=2))
    second = await repo.find(Query(sort="quantity", limit=2, offset=2))
    last = await repo.find(Query(sort="quantity", limit=2, offset=4))
    assert [w.quantity for w in first.items + second.items + last.items] == [1, 2, 3, 4, 5]
    assert first.offset == 2
    assert last.next_cursor is None
    assert (await repo.find(Query(limit=0))).items == []


async def test_bad_cursors_are_rejected(
    provider: RepositoryProvider, catalogue: list[Widget]
) -> None:
    repo = widgets(provider)
    page = await repo.find(Query(sort="name", limit=2))
    assert page.next_cursor is not None
    with pytest.raises(InvalidCursor):
        await repo.find(Query(sort="-quantity", limit=2, cursor=page.next_cursor))
    for garbage in ["not-a-cursor", "e30", "eyJ2IjoxLCJzIjoibmFtZSxpZCIsImsiOlsxXX0", "!" * 10]:
        with pytest.raises(InvalidCursor):
            await repo.find(Query(sort="name", limit=2, cursor=garbage))
    with pytest.raises(InvalidQuery):
        Query(cursor=page.next_cursor, offset=2)


async def test_find_one_count_exists_distinct(
    provider: RepositoryProvider, catalogue: list[Widget]
) -> None:
    repo = widgets(provider)
    assert (await repo.find_one({"sku": "SKU-004"})) == catalogue[3]
    assert await repo.find_one({"sku": "none"}) is None
    assert await repo.count() == 5
    assert await repo.count({"status": "active"}) == 3
    assert not await repo.exists({"quantity": 42})
    assert await repo.distinct("status") == ["active", "archived", "draft"]
    assert await repo.distinct("weight", {"status": "active"}) == [1.0, 2.0]
    assert await repo.distinct("released_on") == [
        dt.date(2024, 1, 10),
        dt.date(2024, 2, 1),
        dt.date(2024, 3, 1),
    ]
    with pytest.raises(InvalidQuery):
        await repo.distinct("nope")


async def test_find_all_returns_every_match_in_order(
    provider: RepositoryProvider, catalogue: list[Widget]
) -> None:
    repo = widgets(provider)
    found = await repo.find_all({"status": "active"}, sort="-quantity")
    assert [w.quantity for w in found] == [5, 4, 1]


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.concurrency
async def test_concurrent_creates_with_one_unique_value_give_one_success(
    provider: RepositoryProvider,
) -> None:
    repo = widgets(provider)
    results = await asyncio.gather(
        *(repo.add(make(i, sku="SAME")) for i in range(50)), return_exceptions=True
    )
    successes = [r for r in results if isinstance(r, Widget)]
    conflicts = [r for r in results if isinstance(r, AlreadyExists)]
    assert (len(successes), len(conflicts)) == (1, 49), results
    assert await repo.count({"sku": "SAME"}) == 1


@pytest.mark.concurrency
async def test_concurrent_versioned_updates_give_one_success(
    provider: RepositoryProvider,
) -> None:
    repo = widgets(provider)
    stored = await repo.add(make(1))
    results = await asyncio.gather(
        *(
            repo.update_fields(stored.id, {"quantity": i}, expected_version=1)
            for i in range(100, 120)
        ),
        return_exceptions=True,
    )
    successes = [r for r in results if isinstance(r, Widget)]
    conflicts = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert (len(successes), len(conflicts)) == (1, 19), results
    final = await repo.get_or_raise(stored.id)
    assert (final.version, final.quantity) == (2, successes[0].quantity)


# --- expiry ------------------------------------------------------------------------------------


async def test_expired_items_are_invisible(provider: RepositoryProvider) -> None:
    repo = provider.of(Session)
    now = int(time.time())
    live = await repo.add(Session(user="a", expires_at=now + 3600))
    gone = await repo.add(Session(user="b", expires_at=now - 10))
    assert await repo.get(gone.id) is None
    assert await repo.get(live.id) == live
    assert [s.id for s in (await repo.find()).items] == [live.id]
    assert await repo.count() == 1


# --- populated views ---------------------------------------------------------------------------


@pytest.fixture
async def graph(provider: RepositoryProvider) -> dict[str, Any]:
    team = await provider.of(Team).add(Team(name="core"))
    ada = await provider.of(Owner).add(Owner(name="Ada", email="ada@x.io", team_id=team.id))
    bob = await provider.of(Owner).add(Owner(name="Bob", email="bob@x.io"))
    w1 = await widgets(provider).add(make(1, owner_id=ada.id))
    w2 = await widgets(provider).add(make(2, owner_id=ada.id))
    w3 = await widgets(provider).add(make(3, owner_id=bob.id))
    w4 = await widgets(provider).add(make(4, owner_id="dangling"))
    red = await provider.of(Label).add(Label(name="red"))
    blue = await provider.of(Label).add(Label(name="blue"))
    await provider.of(WidgetLabel).add_many(
        [
            WidgetLabel(widget_id=w1.id, label_id=red.id),
            WidgetLabel(widget_id=w1.id, label_id=blue.id),
            WidgetLabel(widget_id=w3.id, label_id=red.id),
        ]
    )
    return {"team": team, "ada": ada, "bob": bob, "w": [w1, w2, w3, w4], "red": red}


async def test_view_populates_every_relation_kind(
    provider: RepositoryProvider, graph: dict[str, Any]
) -> None:
    view = provider.view("widget")
    page = await view.find(Query(sort="quantity"), include=["owner.team", "labels"])
    by_qty = {p.entity.quantity: p for p in page.items}
    owner = by_qty[1].related["owner"]
    assert isinstance(owner, Populated)
    assert owner.entity.name == "Ada"
    team = owner.related["team"]
    assert isinstance(team, Populated)
    assert team.entity.name == "core"
    labels = by_qty[1].related["labels"]
    assert isinstance(labels, list)
    assert sorted(lbl.entity.name for lbl in labels) == ["blue", "red"]
    assert by_qty[2].related["labels"] == []
    assert by_qty[4].related["owner"] is None, "a dangling reference populates as None"

    owners = await provider.view("owner").find(Query(sort="name"), include=["widgets"])
    counts = {
        p.entity.name: len(p.related["widgets"])  # type: ignore[arg-type]
        for p in owners.items
    }
    assert counts == {"Ada": 2, "Bob": 1}


async def test_view_get_and_relation_filters(
    provider: RepositoryProvider, graph: dict[str, Any]
) -> None:
    view = provider.view("widget")
    one = await view.get(graph["w"][0].id, include=["owner"])
    assert one is not None
    assert one.entity == graph["w"][0]
    assert await view.get("missing") is None
    by_owner = await view.find(Query(filter={"owner.name": "Ada"}, sort="quantity"))
    assert [p.entity.quantity for p in by_owner.items] == [1, 2]
    by_team = await view.find(Query(filter={"owner.team.name": "core"}))
    assert {p.entity.quantity for p in by_team.items} == {1, 2}
    by_label = await view.find(Query(filter={"labels.name": "red"}))
    assert {p.entity.quantity for p in by_label.items} == {1, 3}
    owners = await provider.view("owner").find(Query(filter={"widgets.quantity": {"gte": 3}}))
    assert [p.entity.name for p in owners.items] == ["Bob"]
    with pytest.raises(InvalidQuery):
        await view.find(include=["nothing"])
    with pytest.raises(InvalidQuery):
        await view.find(Query(filter={"owner.nope": 1}))


async def test_view_round_trips_do_not_grow_with_page_size(
    provider: RepositoryProvider, graph: dict[str, Any]
) -> None:
    calls: list[str] = []
    original_repo = provider.repo

    def counting_repo(name: str) -> Any:
        repo = original_repo(name)

        class Counting:
            def __getattr__(self, attr: str) -> Any:
                calls.append(f"{name}.{attr}")
                return getattr(repo, attr)

        return Counting()

    provider.repo = counting_repo  # type: ignore[method-assign]
    try:
        view = provider.view("widget")
        for limit in (1, 2, 50):
            calls.clear()
            await view.find(Query(limit=limit), include=["owner.team", "labels"])
            # widgets, owners, teams, join rows, labels: one call each, whatever the page size
            assert len(calls) <= 5, calls
    finally:
        del provider.repo
