"""Entities used only by the contract suites: every field type and every relation kind, so a
backend that passes here handles anything the service can declare. They are separate from the
example domain, so deleting the example never weakens the suite."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from {{cookiecutter.package_name}}.adapters.persistence.registry import EntityRegistry


def new_id() -> str:
    return uuid.uuid4().hex


class Status(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"
    DRAFT = "draft"


@dataclass
class Dimensions:
    width: float
    height: float
    unit: str = "cm"


@dataclass
class Widget:
    id: str = field(default_factory=new_id)
    sku: str = ""
    name: str = ""
    barcode: str | None = None
    price: Decimal = Decimal("0")
    quantity: int = 0
    weight: float | None = None
    active: bool = True
    status: Status = Status.ACTIVE
    tags: list[str] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    released_on: dt.date | None = None
    ref: uuid.UUID | None = None
    dims: Dimensions | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    owner_id: str | None = None
    version: int = 0


@dataclass
class Team:
    id: str = field(default_factory=new_id)
    name: str = ""
    version: int = 0


@dataclass
class Owner:
    id: str = field(default_factory=new_id)
    name: str = ""
    email: str = ""
    team_id: str | None = None
    version: int = 0


@dataclass
class Label:
    id: str = field(default_factory=new_id)
    name: str = ""


@dataclass
class WidgetLabel:
    id: str = field(default_factory=new_id)
    widget_id: str = ""
    label_id: str = ""


@dataclass
class Session:
    id: str = field(default_factory=new_id)
    user: str = ""
    expires_at: int = 0  # epoch seconds: the TTL attribute


# --- integrity: validated entities, enforced references, a compound unique constraint --------


@dataclass
class Project:
    """Validates and normalises in its constructor, like a domain entity."""

    name: str
    code: str | None = None  # unique once normalised: "ab-1" and " AB1" are one code
    id: str = field(default_factory=new_id)
    version: int = 0

    def __post_init__(self) -> None:
        self.name = self.name.strip()
        if not self.name:
            raise ValueError("a project needs a name")
        if self.code is not None:
            self.code = self.code.replace("-", "").strip().upper()


@dataclass
class Member:
    name: str = ""
    id: str = field(default_factory=new_id)
    version: int = 0


@dataclass
class Task:
    project_id: str  # restrict: a project with tasks cannot be deleted
    title: str = "task"
    assignee_id: str | None = None  # set_null: deleting the member unassigns the task
    id: str = field(default_factory=new_id)
    version: int = 0

    def __post_init__(self) -> None:
        self.title = self.title.strip()
        if not self.title:
            raise ValueError("a task needs a title")


@dataclass
class Step:
    task_id: str  # cascade: deleting the task deletes its steps
    text: str = ""
    id: str = field(default_factory=new_id)
    version: int = 0


@dataclass
class Vote:
    """One vote per member per task: a compound unique constraint."""

    member_id: str
    task_id: str
    id: str = field(default_factory=new_id)


def build_registry(suffix: str) -> EntityRegistry:
    """A registry whose tables/collections are unique to one test (``suffix``)."""
    registry = EntityRegistry()
    registry.register(
        "widget",
        {
            "entity": Widget,
            "collection": f"widgets_{suffix}",
            "unique": {"sku": "sku", "barcode": "barcode"},
            "indexes": ["owner_id", "status"],
            "relations": {
                "owner": {"target": "owner", "local_field": "owner_id", "by": "id"},
                "labels": {
                    "target": "label",
                    "through": {
                        "entity": "widget_label",
                        "local_field": "widget_id",
                        "target_field": "label_id",
                    },
                },
            },
        },
    )
    registry.register(
        "owner",
        {
            "entity": Owner,
            "collection": f"owners_{suffix}",
            "unique": ["email"],
            "indexes": ["team_id"],
            "relations": {
                "team": {"target": "team", "local_field": "team_id"},
                "widgets": {"target": "widget", "target_field": "owner_id"},
            },
        },
    )
    registry.register("team", {"entity": Team, "collection": f"teams_{suffix}"})
    registry.register("label", {"entity": Label, "collection": f"labels_{suffix}"})
    registry.register(
        "widget_label",
        {
            "entity": WidgetLabel,
            "collection": f"widget_labels_{suffix}",
            "indexes": ["widget_id", "label_id"],
        },
    )
    registry.register(
        "session",
        {"entity": Session, "collection": f"sessions_{suffix}", "ttl_field": "expires_at"},
    )
    return registry


def build_integrity_registry(suffix: str) -> EntityRegistry:
    """Entities with validating constructors, enforced references and a compound unique
    constraint (plus ``Widget``, for values), for the integrity contract."""
    registry = EntityRegistry()
    registry.register("widget", {"entity": Widget, "collection": f"widgets_{suffix}"})
    registry.register(
        "project",
        {"entity": Project, "collection": f"projects_{suffix}", "unique": ["code"]},
    )
    registry.register("member", {"entity": Member, "collection": f"members_{suffix}"})
    registry.register(
        "task",
        {
            "entity": Task,
            "collection": f"tasks_{suffix}",
            "indexes": ["project_id", "assignee_id"],
            "relations": {
                "project": {
                    "target": "project",
                    "local_field": "project_id",
                    "on_delete": "restrict",
                },
                "assignee": {
                    "target": "member",
                    "local_field": "assignee_id",
                    "on_delete": "set_null",
                },
                "steps": {"target": "step", "target_field": "task_id"},
            },
        },
    )
    registry.register(
        "step",
        {
            "entity": Step,
            "collection": f"steps_{suffix}",
            "indexes": ["task_id"],
            "relations": {
                "task": {"target": "task", "local_field": "task_id", "on_delete": "cascade"},
            },
        },
    )
    registry.register(
        "vote",
        {
            "entity": Vote,
            "collection": f"votes_{suffix}",
            "unique_together": [("member_id", "task_id")],
            "indexes": ["task_id", "member_id"],
            "relations": {
                "member": {"target": "member", "local_field": "member_id", "on_delete": "cascade"},
                "task": {"target": "task", "local_field": "task_id", "on_delete": "cascade"},
            },
        },
    )
    return registry
