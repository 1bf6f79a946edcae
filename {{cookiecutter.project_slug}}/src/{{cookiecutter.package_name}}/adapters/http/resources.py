"""A full HTTP API for a registered entity, derived from its dataclass and its registration.

    router = resource_router(registry, [
        Resource("review", "/reviews", hidden=("internal_note",), access=Access(write=("editor",))),
    ])
    app.include_router(router)

gives, per resource: ``GET /reviews`` (filter, sort, cursor or offset, ``include`` of any
relation), ``GET /reviews/{id}``, ``POST /reviews`` (201), ``PATCH /reviews/{id}`` (with the
``version`` read: a stale one is 409) and ``DELETE /reviews/{id}`` (``?version=`` optional),
each behind its own role guard, with OpenAPI models named ``ReviewIn``, ``ReviewPatch``,
``ReviewOut`` and ``ReviewPage``. The request models take the entity's fields minus the ones the
server sets (``read_only``: id, version, created_at by default) and the ``hidden`` ones;
``renamed`` gives a field another name on the wire; ``constraints`` adds pydantic checks (length,
range) that OpenAPI shows. The response model has every field that is not hidden, plus one
optional field per relation for ``include``.

Writes go through the entity's constructor (a ``DomainError`` is a 422) and the repository's
guarantees (unique fields 409, references 422/409, versions 409). Hand-written routes sit
beside these ones for anything that is not plain CRUD.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from fastapi import Query as QueryParam
from pydantic import BaseModel, ConfigDict, Field, create_model

from ...ports.errors import NotFound
from ...ports.repository import Populated
from ..persistence.common import through_domain
from ..persistence.registry import EntityRegistry, EntitySpec, RelationKind
from .deps import RepositoriesDep, get_repositories
from .errors import error_responses
from .pagination import ListParams, list_params
from .schemas import MAX_VERSION, changes_of, populated_dict
from .security import require_roles

SERVER_SET = ("id", "version", "created_at")
EDITOR_ROLES = ("editor", "admin")


@dataclass(frozen=True)
class Access:
    """The roles each operation needs; ``None`` means anyone, signed in or not."""

    read: tuple[str, ...] | None = None
    create: tuple[str, ...] | None = EDITOR_ROLES
    update: tuple[str, ...] | None = EDITOR_ROLES
    delete: tuple[str, ...] | None = EDITOR_ROLES


@dataclass(frozen=True)
class Resource:
    """One entity exposed over HTTP (see the module docstring)."""

    entity: str  # its name in the registry
    path: str  # "/reviews"
    tag: str | None = None  # OpenAPI tag; defaults to the path's last segment
    read_only: tuple[str, ...] = SERVER_SET
    hidden: tuple[str, ...] = ()
    renamed: Mapping[str, str] = field(default_factory=dict)
    access: Access = Access()
    example: Mapping[str, Any] | None = None  # a create body shown in OpenAPI
    # Extra pydantic ``Field`` options per field, checked before the entity's constructor and
    # shown in OpenAPI: ``{"title": {"min_length": 1, "max_length": 200}}``.
    constraints: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    operations: frozenset[str] = frozenset({"list", "get", "create", "update", "delete"})


@dataclass(frozen=True)
class _Models:
    create: type[BaseModel]
    patch: type[BaseModel]
    out: type[BaseModel]
    page: type[BaseModel]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ResourceRouter(APIRouter):
    """The routes of some resources, and the response model of every registered entity (for
    hand-written routes that answer with one: ``router.out_models["author"]``)."""

    def __init__(self, out_models: Mapping[str, type[BaseModel]]) -> None:
        super().__init__()
        self.out_models = dict(out_models)


def resource_router(registry: EntityRegistry, resources: Sequence[Resource]) -> ResourceRouter:
    """The routes of every resource; their response models can include each other."""
    by_entity = {resource.entity: resource for resource in resources}
    out_models = _out_models(registry, by_entity)
    router = ResourceRouter(out_models)
    for resource in resources:
        spec = registry.get(resource.entity)
        out: Any = out_models[spec.name]
        models = _Models(
            create=_create_model(spec, resource),
            patch=_patch_model(spec, resource),
            out=out,
            page=create_model(
                f"{_title(spec.name)}Page",
                __base__=_Out,
                items=(list[out], ...),
                next_cursor=(str | None, None),
                next_offset=(int | None, None),
            ),
        )
        _mount(router, spec, resource, models)
    return router


# --- models --------------------------------------------------------------------------------


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _wire(resource: Resource | None, name: str) -> str:
    return resource.renamed.get(name, name) if resource is not None else name


def _out_models(
    registry: EntityRegistry, resources: Mapping[str, Resource]
) -> dict[str, type[BaseModel]]:
    """One response model per registered entity, built together so relations can nest."""
    namespace: dict[str, type[BaseModel]] = {}
    for spec in registry:
        resource = resources.get(spec.name)
        hidden = resource.hidden if resource is not None else ()
        definitions: dict[str, Any] = {}
        for item in fields(spec.entity):
            if item.name in hidden:
                continue
            annotation = spec.schema.fields[item.name].python_type
            if spec.schema.fields[item.name].optional:
                annotation = annotation | None
            alias = _wire(resource, item.name)
            definitions[item.name] = (annotation, Field(alias=alias) if alias != item.name else ...)
        for rel_name, rel in spec.relations.items():
            target = f"{_title(rel.target)}Out"
            many = rel.kind is not RelationKind.MANY_TO_ONE
            definitions[rel_name] = (f"list[{target}] | None" if many else f"{target} | None", None)
        namespace[f"{_title(spec.name)}Out"] = create_model(
            f"{_title(spec.name)}Out", __base__=_Out, **definitions
        )
    for model in namespace.values():
        model.model_rebuild(_types_namespace=namespace)
    return {spec.name: namespace[f"{_title(spec.name)}Out"] for spec in registry}


def _writable(spec: EntitySpec[Any], resource: Resource) -> list[Any]:
    excluded = {*resource.read_only, *resource.hidden, spec.id_field}
    if spec.version_field:
        excluded.add(spec.version_field)
    return [item for item in fields(spec.entity) if item.name not in excluded]


def _create_model(spec: EntitySpec[Any], resource: Resource) -> type[BaseModel]:
    definitions: dict[str, Any] = {}
    for item in _writable(spec, resource):
        info = spec.schema.fields[item.name]
        annotation = info.python_type | None if info.optional else info.python_type
        options: dict[str, Any] = {}
        if item.default is not MISSING:
            options["default"] = item.default
        elif item.default_factory is not MISSING:
            options["default_factory"] = item.default_factory
        alias = _wire(resource, item.name)
        if alias != item.name:
            options["alias"] = alias
        options.update(resource.constraints.get(item.name, {}))
        definitions[item.name] = (annotation, Field(**options))
    config = ConfigDict(extra="forbid", populate_by_name=True)
    if resource.example is not None:
        config["json_schema_extra"] = {"examples": [dict(resource.example)]}
    return create_model(f"{_title(spec.name)}In", __config__=config, **definitions)


def _patch_model(spec: EntitySpec[Any], resource: Resource) -> type[BaseModel]:
    definitions: dict[str, Any] = {}
    if spec.version_field:
        definitions[spec.version_field] = (
            int,
            Field(ge=1, le=MAX_VERSION, description="The version you read: a stale one is a 409."),
        )
    for item in _writable(spec, resource):
        alias = _wire(resource, item.name)
        options: dict[str, Any] = {"default": None, **resource.constraints.get(item.name, {})}
        if alias != item.name:
            options["alias"] = alias
        info = spec.schema.fields[item.name]
        definitions[item.name] = (info.python_type | None, Field(**options))
    return create_model(f"{_title(spec.name)}Patch", __base__=_In, **definitions)


# --- routes --------------------------------------------------------------------------------


Include = Annotated[str | None, QueryParam(max_length=512, description="e.g. `author.publisher`")]
ExpectedVersion = Annotated[
    int | None, QueryParam(ge=1, le=MAX_VERSION, description="Delete only this version.")
]


def _guard(roles: tuple[str, ...] | None) -> list[Any]:
    return [] if roles is None else [Depends(require_roles(*roles))]


def _auth_errors(roles: tuple[str, ...] | None) -> tuple[int, ...]:
    return () if roles is None else (401, 403)


def _includes(include: str | None) -> list[str]:
    return [p.strip() for p in include.split(",") if p.strip()] if include else []


def _with_signature(function: Callable[..., Any], **annotations: Any) -> Callable[..., Any]:
    """Give a generated route function real annotations (FastAPI reads the signature)."""
    parameters = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
        if not isinstance(annotation, tuple)
        else inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation[0], default=annotation[1]
        )
        for name, annotation in annotations.items()
    ]
    function.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return function


def _mount(router: APIRouter, spec: EntitySpec[Any], resource: Resource, models: _Models) -> None:
    tag = resource.tag or resource.path.strip("/").split("/")[-1]
    access = resource.access
    name = spec.name
    repositories = Annotated[Any, Depends(get_repositories)]
    list_parameters = Annotated[ListParams, Depends(list_params)]

    def found(id: str, node: Populated[Any] | None) -> Any:
        if node is None:
            raise NotFound(name, id)
        return _out(node, resource)

    if "list" in resource.operations:

        async def list_items(params: ListParams, repos: RepositoriesDep) -> Any:
            page = await repos.view(name).find(params.query, params.include)
            items = [_out(node, resource) for node in page.items]
            return {"items": items, "next_cursor": page.next_cursor, "next_offset": page.offset}

        router.add_api_route(
            resource.path,
            _with_signature(list_items, params=list_parameters, repos=repositories),
            methods=["GET"],
            response_model=models.page,
            response_model_exclude_unset=True,
            dependencies=_guard(access.read),
            tags=[tag],
            responses=error_responses(400, *_auth_errors(access.read)),
            name=f"list_{name}",
        )

    if "get" in resource.operations:

        async def get_item(id: str, repos: RepositoriesDep, include: str | None = None) -> Any:
            return found(id, await repos.view(name).get(id, _includes(include)))

        router.add_api_route(
            resource.path + "/{id}",
            _with_signature(get_item, id=str, repos=repositories, include=(Include, None)),
            methods=["GET"],
            response_model=models.out,
            response_model_exclude_unset=True,
            dependencies=_guard(access.read),
            tags=[tag],
            responses=error_responses(400, 404, *_auth_errors(access.read)),
            name=f"get_{name}",
        )

    if "create" in resource.operations:

        async def create_item(body: BaseModel, repos: RepositoriesDep) -> Any:
            entity = through_domain(spec, body.model_dump(exclude_unset=False))
            return _out(Populated(await repos.repo(name).add(entity)), resource)

        router.add_api_route(
            resource.path,
            _with_signature(create_item, body=models.create, repos=repositories),
            methods=["POST"],
            status_code=status.HTTP_201_CREATED,
            response_model=models.out,
            response_model_exclude_unset=True,
            dependencies=_guard(access.create),
            tags=[tag],
            responses=error_responses(400, 409, *_auth_errors(access.create)),
            name=f"create_{name}",
        )

    if "update" in resource.operations:

        async def update_item(id: str, body: BaseModel, repos: RepositoriesDep) -> Any:
            version = getattr(body, spec.version_field) if spec.version_field else None
            changes = changes_of(body, spec.entity)
            stored = await repos.repo(name).update_fields(id, changes, expected_version=version)
            return _out(Populated(stored), resource)

        router.add_api_route(
            resource.path + "/{id}",
            _with_signature(update_item, id=str, body=models.patch, repos=repositories),
            methods=["PATCH"],
            response_model=models.out,
            response_model_exclude_unset=True,
            dependencies=_guard(access.update),
            tags=[tag],
            responses=error_responses(400, 404, 409, *_auth_errors(access.update)),
            name=f"update_{name}",
        )

    if "delete" in resource.operations:

        async def delete_item(id: str, repos: RepositoriesDep, version: int | None = None) -> None:
            await repos.repo(name).delete(id, expected_version=version)

        router.add_api_route(
            resource.path + "/{id}",
            _with_signature(
                delete_item, id=str, repos=repositories, version=(ExpectedVersion, None)
            ),
            methods=["DELETE"],
            status_code=status.HTTP_204_NO_CONTENT,
            dependencies=_guard(access.delete),
            tags=[tag],
            responses=error_responses(404, 409, *_auth_errors(access.delete)),
            name=f"delete_{name}",
        )


def _out(node: Populated[Any], resource: Resource) -> Any:
    if not node.related:
        return node.entity  # the response model reads its fields (hidden ones are not in it)
    data = populated_dict(node)
    for hidden in resource.hidden:
        data.pop(hidden, None)
    return data
