"""Registrations that cannot be enforced are refused at start-up, not at the first request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from {{cookiecutter.package_name}}.adapters.persistence.registry import (
    EntityRegistry,
    EntitySpec,
    OnDelete,
    Relation,
)


@dataclass
class Parent:
    id: str = "p"
    code: str = ""
    expires_at: int | None = None


@dataclass
class Child:
    parent_id: str = "p"
    id: str = "c"


@dataclass
class Versioned:
    id: str = "v"
    version: int = 0


@dataclass
class OptionalChild:
    parent_id: str | None = None
    id: str = "c"
    tags: list[str] = field(default_factory=list)


def registry_with(child: type[Any], relation: dict[str, Any], **parent: Any) -> EntityRegistry:
    registry = EntityRegistry()
    registry.register("parent", {"entity": Parent, **parent})
    registry.register("child", {"entity": child, "relations": {"parent": relation}})
    return registry


def test_an_enforced_relation_is_checked_at_start_up() -> None:
    good = {"target": "parent", "local_field": "parent_id", "on_delete": "restrict"}
    registry_with(Child, good).check_relations()
    with pytest.raises(ValueError, match="optional"):
        registry_with(Child, {**good, "on_delete": "set_null"}).check_relations()
    registry_with(OptionalChild, {**good, "on_delete": "set_null"}).check_relations()
    with pytest.raises(ValueError, match="target's id"):
        registry_with(Child, {**good, "by": "code"}).check_relations()
    with pytest.raises(ValueError, match="ttl_field"):
        registry_with(Child, good, ttl_field="expires_at").check_relations()
    with pytest.raises(ValueError, match="explode"):
        registry_with(Child, {**good, "on_delete": "explode"})


def test_compound_unique_constraints_name_real_fields() -> None:
    registry = EntityRegistry()
    registry.register("child", {"entity": OptionalChild, "unique_together": [("parent_id", "id")]})
    assert registry.get("child").unique_keys == (("parent_id", "id"),)
    with pytest.raises(ValueError, match="not a field"):
        registry.register("bad", {"entity": Child, "unique_together": [("parent_id", "nope")]})
    with pytest.raises(ValueError, match=r"2\+ distinct fields"):
        registry.register("one", {"entity": Child, "unique_together": [("parent_id",)]})


def test_a_feature_adds_a_relation_to_an_entity_it_does_not_own() -> None:
    registry = registry_with(Child, {"target": "parent", "local_field": "parent_id"})
    registry.add_relation("parent", "children", {"target": "child", "target_field": "parent_id"})
    assert registry.get("parent").relations["children"].target == "child"
    with pytest.raises(ValueError, match="already has"):
        registry.add_relation("parent", "children", {"target": "child", "target_field": "x"})
    registry.check_relations()


def test_the_typed_registration_gives_what_the_dict_gives() -> None:
    typed, loose = EntityRegistry(b"k"), EntityRegistry(b"k")
    relation = Relation("parent", local_field="parent_id", on_delete=OnDelete.RESTRICT)
    typed.register(EntitySpec("parent", Parent))
    typed.register(
        EntitySpec("child", Child, indexes=("parent_id",), relations={"parent": relation})
    )
    loose.register("parent", {"entity": Parent})
    loose.register(
        "child",
        {
            "entity": Child,
            "indexes": ["parent_id"],
            "relations": {
                "parent": {"target": "parent", "local_field": "parent_id", "on_delete": "restrict"}
            },
        },
    )

    assert list(typed) == list(loose)
    assert typed.get("child").collection == "child"  # the name when none is given
    assert typed.get("child").references == {"parent": relation}


def test_a_typed_spec_finds_the_version_field_like_the_dict_form() -> None:
    registry = EntityRegistry()
    assert registry.register(EntitySpec("v", Versioned)).version_field == "version"
    assert registry.register(EntitySpec("p", Parent)).version_field is None
    unlocked = registry.register(EntitySpec("u", Versioned, version_field=None))
    assert unlocked.version_field is None


def test_a_spec_registered_under_another_name_is_refused() -> None:
    with pytest.raises(ValueError, match="named 'parent'"):
        EntityRegistry().register("other", EntitySpec("parent", Parent))
