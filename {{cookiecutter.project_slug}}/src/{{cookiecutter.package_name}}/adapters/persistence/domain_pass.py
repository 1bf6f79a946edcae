"""Every write's pass through the entity's constructor, planned once per shape of entity.

``common.through_domain_record`` states the rule: the entity is rebuilt by its constructor
from a deep copy of its values, each revived to its field's type; the rebuilt entity's record
is checked by ``ports.schema.unstorable``; that record is what gets stored. Done field by
field with no plan, that pass cost more than PostgreSQL's own insert of the row.

The entities a service writes have the same value types nearly every time (a ``str`` where
the field says ``str``, ``None`` where it is optional). For those, only the lists, sets, dicts
and nested values need reviving and copying, and only some values need a storability check.
So the values are read in one call, their *types* key a plan made the first time they are
seen, and the plan names the few fields that need work. An entity a plan does not fit (a
value of another type, a null where none is allowed, a subclass) gets None back and takes
the general path, which raises the same errors it always did. Either way the result is the
same entity and the same record; the tests run both paths on the same inputs.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from ...ports.errors import InvalidInput
from ...ports.schema import SCALAR_KINDS, FieldInfo, Kind, check_of, text_problem, unstorable
from .codec import EXACT_TYPES, is_atomic, plain, reviver, takes_fields_by_position
from .specs import EntitySpec

T = TypeVar("T")

Fix = Callable[[Any], Any]
Check = Callable[[Any], str | None]
Plan = tuple[tuple[int, Fix], ...]

# The plans kept per entity type, one per combination of value types met. More than this
# means the types vary without end: the plans start again instead of growing.
MAX_PLANS: Final = 256


class _Output:
    """What the rebuilt entity's values need, by position: ``copies`` (so the record shares
    nothing mutable with the entity), ``texts`` (read at once: one search finds a NUL in any
    of them) and the other ``checks``; ``ordered`` has every check in field order, to name the
    first refused value as the general path does."""

    __slots__ = ("checks", "copies", "ordered", "texts")

    def __init__(self, copies: list[int], checks: list[tuple[int, Check]]) -> None:
        self.copies = tuple(copies)
        self.ordered = tuple(checks)
        texts = [index for index, check in checks if check is text_problem]
        self.texts = _picker(texts) if texts else None
        self.checks = tuple((i, check) for i, check in checks if check is not text_problem)


class DomainPass:
    """The constructor pass of one entity type (see the module's docstring)."""

    def __init__(self, entity: type[Any], fields: dict[str, FieldInfo]) -> None:
        names = tuple(fields)
        self._entity = entity
        self._names = names
        self._infos = tuple(fields.values())
        self._position = {name: index for index, name in enumerate(names)}
        self._values = _reader(names)
        self._by_position = takes_fields_by_position(entity, names)
        self._inputs: dict[tuple[type[Any], ...], Plan | None] = {}
        self._outputs: dict[tuple[type[Any], ...], _Output] = {}

    @property
    def names(self) -> tuple[str, ...]:
        """The fields, in the order ``rebuild`` returns their values."""
        return self._names

    def rebuild(
        self, spec: EntitySpec[T], entity: T, version: int | None = None, *, copy: bool = True
    ) -> tuple[T, list[Any]] | None:
        """The entity through its constructor (holding ``version`` when given) and its record's
        values in ``names`` order, or None when this entity needs the general path.

        With ``copy=False`` the values are the rebuilt entity's own (lists, sets, dicts and
        nested dataclasses not copied to plain ones), for a caller that only encodes them
        before returning; the checks are the same."""
        if type(entity) is not self._entity:
            return None
        values = list(self._values(entity))
        if version is not None and spec.version_field is not None:
            values[self._position[spec.version_field]] = version
        shape = tuple(map(type, values))
        plan = self._inputs.get(shape, _UNSEEN)
        if plan is _UNSEEN:
            plan = _remember(self._inputs, shape, self._input_plan(shape))
        if plan is None:
            return None
        try:
            for index, fix in plan:
                values[index] = fix(values[index])
            if self._by_position:
                rebuilt = self._entity(*values)
            else:
                rebuilt = self._entity(**dict(zip(self._names, values, strict=True)))
        except (TypeError, ValueError, AttributeError) as exc:  # as through_domain_record
            raise InvalidInput(f"{spec.name}: {exc}") from exc
        stored = list(self._values(rebuilt))
        shape = tuple(map(type, stored))
        output = self._outputs.get(shape)
        if output is None:
            output = _remember(self._outputs, shape, self._output_plan(shape))
        if copy:
            for index in output.copies:
                stored[index] = plain(stored[index])
        texts = output.texts
        refused = texts is not None and "\x00" in "".join(texts(stored))
        for index, check in output.checks:
            if refused:
                break
            refused = check(stored[index]) is not None
        if refused:
            for index, check in output.ordered:
                if (problem := check(stored[index])) is not None:
                    raise InvalidInput(f"{spec.name}.{self._names[index]}: {problem}")
        return rebuilt, stored

    def rebuild_record(
        self, spec: EntitySpec[T], entity: T, version: int | None = None
    ) -> tuple[T, dict[str, Any]] | None:
        """``rebuild`` with the values as the record to store (copied: it shares nothing
        mutable with the entity), or None when this entity needs the general path."""
        built = self.rebuild(spec, entity, version)
        if built is None:
            return None
        return built[0], dict(zip(self._names, built[1], strict=True))

    def _input_plan(self, shape: tuple[type[Any], ...]) -> Plan | None:
        """How values of these types become the constructor's arguments: the fields to revive
        (copies of lists, sets, dicts, nested values; datetimes made aware), or None when a
        value needs the general path (coercion, or a null the field does not allow)."""
        plan: list[tuple[int, Fix]] = []
        for index, (info, found) in enumerate(zip(self._infos, shape, strict=True)):
            if found is type(None):
                if not info.optional and info.kind is not Kind.ANY:
                    return None
            elif info.kind is Kind.DATETIME:
                if found is not dt.datetime:
                    return None
                plan.append((index, reviver(info)))  # a naive one is taken as UTC
            elif info.kind is Kind.ENUM:
                if found is not info.python_type:
                    return None
            elif info.kind in SCALAR_KINDS:
                if found is not EXACT_TYPES[info.kind]:
                    return None
            else:
                plan.append((index, _copier(info)))
        return tuple(plan)

    def _output_plan(self, shape: tuple[type[Any], ...]) -> _Output:
        copies: list[int] = []
        checks: list[tuple[int, Check]] = []
        for index, found in enumerate(shape):
            if not is_atomic(found):
                copies.append(index)
                checks.append((index, unstorable))
            elif (check := check_of(found)) is not None:
                checks.append((index, check))
        return _Output(copies, checks)


_UNSEEN: Any = object()


def _remember(plans: dict[tuple[type[Any], ...], Any], shape: tuple[type[Any], ...], plan: T) -> T:
    if len(plans) >= MAX_PLANS:
        plans.clear()
    plans[shape] = plan
    return plan


def _copier(info: FieldInfo) -> Fix:
    """A list, set, dict or nested value as ``from_record(to_record(entity))`` revives it."""
    revive = reviver(info)
    return lambda value: revive(plain(value))


def _reader(names: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """An entity's field values in field order, read by one C call."""
    if len(names) == 1:
        name = names[0]
        return lambda entity: (getattr(entity, name),)
    return operator.attrgetter(*names)


def _picker(indices: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """The values at these positions, as a tuple, read by one C call."""
    if len(indices) == 1:
        index = indices[0]
        return lambda values: (values[index],)
    return operator.itemgetter(*indices)


_PASSES: dict[type[Any], DomainPass] = {}


def domain_pass(spec: EntitySpec[Any]) -> DomainPass:
    """The (cached) constructor pass of the spec's entity type."""
    found = _PASSES.get(spec.entity)
    if found is None:
        found = _PASSES[spec.entity] = DomainPass(spec.entity, spec.schema.fields)
    return found
