"""Populated views: entities with their relations loaded, on any backend.

Round trips are bounded by the shape of the request, never by the number of rows: one query
per relation per include level (two for many-to-many: the join rows, then the targets),
each an ``IN`` over the keys collected from the whole page. A filter through a relation
(``{"author.name": "Ada"}``) costs one query on the related entity, then becomes an ``IN``
on the local key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from ...ports.errors import InvalidQuery
from ...ports.query import MAX_IN_VALUES, And, Condition, Filter, Op, Or, Page, Query, parse_filter
from ...ports.repository import Populated, Repository
from .registry import EntitySpec, Relation, RelationKind, Through

if TYPE_CHECKING:
    from .registry import RepositoryProvider

IncludeTree = dict[str, "IncludeTree"]


def parse_includes(paths: Iterable[str]) -> IncludeTree:
    tree: IncludeTree = {}
    for path in paths:
        node = tree
        for part in path.split("."):
            if not part:
                raise InvalidQuery(f"bad include path {path!r}")
            node = node.setdefault(part, {})
    return tree


class PopulatingViewRepository:
    def __init__(self, provider: RepositoryProvider, spec: EntitySpec[Any]) -> None:
        self._provider = provider
        self.spec = spec

    @property
    def entity_name(self) -> str:
        return self.spec.name

    @property
    def _repo(self) -> Repository[Any]:
        return self._provider.repo(self.spec.name)

    async def get(self, id: str, include: Sequence[str] = ()) -> Populated[Any] | None:
        entity = await self._repo.get(id)
        if entity is None:
            return None
        return (await populate(self._provider, self.spec, [entity], parse_includes(include)))[0]

    async def find(
        self, query: Query | None = None, include: Sequence[str] = ()
    ) -> Page[Populated[Any]]:
        query = query or Query()
        tree = parse_includes(include)
        _check_includes(self._provider, self.spec, tree)
        rewritten = await resolve_relation_filters(self._provider, self.spec, query.filter)
        binding = None
        if rewritten != query.filter:  # bind cursors to the relation filter, not to its ids
            binding = "view:" + json.dumps(query.filter, sort_keys=True, default=str)
        page = await self._repo.find(
            Query(
                filter=rewritten,
                sort=query.sort,
                limit=query.limit,
                cursor=query.cursor,
                offset=query.offset,
                binding=binding,
            )
        )
        items = await populate(self._provider, self.spec, page.items, tree)
        return Page(items, page.next_cursor, page.offset)


def _check_includes(provider: RepositoryProvider, spec: EntitySpec[Any], tree: IncludeTree) -> None:
    for name, subtree in tree.items():
        relation = spec.relations.get(name)
        if relation is None:
            known = ", ".join(sorted(spec.relations)) or "none"
            raise InvalidQuery(f"{spec.name} has no relation {name!r}; relations: {known}")
        _check_includes(provider, provider.registry.get(relation.target), subtree)


# --- filters through relations ---------------------------------------------------------------


async def resolve_relation_filters(
    provider: RepositoryProvider, spec: EntitySpec[Any], raw: Any
) -> Filter | None:
    """Rewrite conditions on ``relation.field`` into ``IN`` conditions on local keys."""
    tree = parse_filter(raw, spec.schema, relations=tuple(spec.relations))
    if tree is None:
        return None
    return await _rewrite(provider, spec, tree)


async def _rewrite(provider: RepositoryProvider, spec: EntitySpec[Any], tree: Filter) -> Filter:
    if isinstance(tree, And | Or):
        items = tuple([await _rewrite(provider, spec, item) for item in tree.items])
        return And(items) if isinstance(tree, And) else Or(items)
    head, _, rest = tree.field.partition(".")
    relation = spec.relations.get(head)
    if relation is None or not rest:
        return tree
    target = provider.registry.get(relation.target)
    inner = await resolve_relation_filters(provider, target, Condition(rest, tree.op, tree.value))
    matched = await provider.repo(target.name).find_all(inner)
    if relation.kind is RelationKind.MANY_TO_ONE:
        keys = _unique(getattr(e, relation.by) for e in matched)
        return Condition(relation.local_field, Op.IN, tuple(keys))
    if relation.kind is RelationKind.ONE_TO_MANY:
        field = cast(str, relation.target_field)
        keys = _unique(getattr(e, field) for e in matched)
        return Condition(relation.local_field, Op.IN, tuple(keys))
    through = cast(Through, relation.through)
    target_ids = _unique(getattr(e, target.id_field) for e in matched)
    links = await _find_in(provider, through.entity, through.target_field, target_ids)
    keys = _unique(getattr(link, through.local_field) for link in links)
    return Condition(spec.id_field, Op.IN, tuple(keys))


def _unique(values: Iterable[Any]) -> list[Any]:
    return [v for v in dict.fromkeys(values) if v is not None]


async def _find_in(
    provider: RepositoryProvider, entity: str, field: str, values: Sequence[Any]
) -> list[Any]:
    """All rows of ``entity`` whose ``field`` is in ``values``: one query per 1000 keys."""
    repo = provider.repo(entity)
    result: list[Any] = []
    for start in range(0, len(values), MAX_IN_VALUES):
        chunk = list(values[start : start + MAX_IN_VALUES])
        result.extend(await repo.find_all({field: {"in": chunk}}))
    return result


async def _get_by_keys(
    provider: RepositoryProvider, spec: EntitySpec[Any], field: str, keys: Sequence[Any]
) -> list[Any]:
    if not keys:
        return []
    if field == spec.id_field:
        return await provider.repo(spec.name).get_many(list(keys))
    return await _find_in(provider, spec.name, field, keys)


# --- population ------------------------------------------------------------------------------


async def populate(
    provider: RepositoryProvider,
    spec: EntitySpec[Any],
    entities: Sequence[Any],
    tree: IncludeTree,
) -> list[Populated[Any]]:
    nodes = [Populated(e) for e in entities]
    await _populate_nodes(provider, spec, nodes, tree)
    return nodes


async def _populate_nodes(
    provider: RepositoryProvider,
    spec: EntitySpec[Any],
    nodes: list[Populated[Any]],
    tree: IncludeTree,
) -> None:
    for name, subtree in tree.items():
        relation = spec.relations.get(name)
        if relation is None:
            raise InvalidQuery(f"{spec.name} has no relation {name!r}")
        target = provider.registry.get(relation.target)
        children = await _attach(provider, spec, target, relation, name, nodes)
        if subtree and children:
            await _populate_nodes(provider, target, children, subtree)


async def _attach(
    provider: RepositoryProvider,
    spec: EntitySpec[Any],
    target: EntitySpec[Any],
    relation: Relation,
    name: str,
    nodes: list[Populated[Any]],
) -> list[Populated[Any]]:
    """Load one relation for every node with one bounded query; return the child nodes."""
    if relation.kind is RelationKind.MANY_TO_ONE:
        keys = _unique(getattr(n.entity, relation.local_field) for n in nodes)
        found = await _get_by_keys(provider, target, relation.by, keys)
        by_key = {getattr(e, relation.by): Populated(e) for e in found}
        for node in nodes:
            node.related[name] = by_key.get(getattr(node.entity, relation.local_field))
        return list(by_key.values())

    if relation.kind is RelationKind.ONE_TO_MANY:
        field = cast(str, relation.target_field)
        keys = _unique(getattr(n.entity, relation.local_field) for n in nodes)
        found = await _get_by_keys(provider, target, field, keys)
        groups: dict[Any, list[Populated[Any]]] = {}
        children = []
        for entity in found:
            child = Populated(entity)
            children.append(child)
            groups.setdefault(getattr(entity, field), []).append(child)
        for node in nodes:
            node.related[name] = groups.get(getattr(node.entity, relation.local_field), [])
        return children

    through = cast(Through, relation.through)
    ids = _unique(getattr(n.entity, spec.id_field) for n in nodes)
    links = await _get_by_keys(
        provider, provider.registry.get(through.entity), through.local_field, ids
    )
    target_ids = _unique(getattr(link, through.target_field) for link in links)
    targets = await _get_by_keys(provider, target, target.id_field, target_ids)
    by_id = {getattr(t, target.id_field): Populated(t) for t in targets}
    linked: dict[Any, list[Populated[Any]]] = {}
    for link in links:
        target_node = by_id.get(getattr(link, through.target_field))
        if target_node is not None:
            linked.setdefault(getattr(link, through.local_field), []).append(target_node)
    for node in nodes:
        node.related[name] = linked.get(getattr(node.entity, spec.id_field), [])
    return list(by_id.values())
