"""What only DynamoDB has to prove: access paths, Select=COUNT, cursors, partial batches, and
generic-repo's surface. Against moto's server; faults are injected with botocore event hooks
on the real client (DynamoDB answering "UnprocessedItems"), never with a fake backend."""

from __future__ import annotations

import asyncio
import base64
import contextvars
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.conditions import Attr  # type: ignore[import-untyped]
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from {{cookiecutter.package_name}}.adapters.persistence.common import prepare
from {{cookiecutter.package_name}}.adapters.persistence.dynamodb import (
    AsyncGenericRepository,
    DynamoDbBackend,
    GenericRepository,
    ItemNotFound,
)
from {{cookiecutter.package_name}}.adapters.persistence.dynamodb.errors import translate
from {{cookiecutter.package_name}}.adapters.persistence.registry import RepositoryProvider
from {{cookiecutter.package_name}}.ports.errors import (
    AlreadyExists,
    BackendUnavailable,
    BatchWriteError,
    ConcurrencyConflict,
    ConditionFailed,
    InvalidCursor,
    InvalidInput,
    NotFound,
    ReferenceNotFound,
    TransactionTooLarge,
)
from {{cookiecutter.package_name}}.ports.query import Query

from tests.support.backend_dynamodb import REGION, dynamodb_endpoint, make_backend
from tests.support.entities import (
    Member,
    Project,
    Session,
    Step,
    Task,
    Team,
    Widget,
    build_integrity_registry,
    build_registry,
)
from tests.support.round_trips import Calls


@pytest.fixture
async def ddb(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[DynamoDbBackend, RepositoryProvider]]:
    endpoint = dynamodb_endpoint(request)
    registry = build_registry(uuid.uuid4().hex[:10])
    backend = make_backend(endpoint, batch_attempts=4)
    provider = RepositoryProvider(registry, {"dynamodb": lambda: backend}, "dynamodb")
    await provider.start(create_schema=True)
    try:
        yield backend, provider
    finally:
        await backend.drop(list(registry))
        await provider.close()


def widget(n: int, **values: Any) -> Widget:
    defaults: dict[str, Any] = {"sku": f"SKU-{n:03d}", "name": f"widget {n}", "quantity": n}
    return Widget(id=f"w{n:03d}", **{**defaults, **values})


# --- access paths ------------------------------------------------------------------------------


async def test_indexed_lookups_query_the_gsi_and_never_scan(
    ddb: tuple[DynamoDbBackend, RepositoryProvider],
) -> None:
    backend, provider = ddb
    repo = provider.of(Widget)
    await repo.add_many([widget(i, owner_id=f"o{i % 2}") for i in range(6)])
    calls = Calls(backend)

    assert (await repo.get_by("sku", "SKU-003")) is not None
    assert len(await repo.find_all({"owner_id": "o1"})) == 3
    assert len(await repo.find_all({"owner_id": ["o0", "o1"], "quantity": {"gt": 1}})) == 4
    assert await repo.count({"status": "active", "quantity": {"lt": 3}}) == 3
    assert "Scan" not in calls.names
    queries = [params for name, params in calls.log if name == "Query"]
    assert {q["IndexName"] for q in queries} >= {"ix_sku", "ix_owner_id", "ix_status"}

    calls.clear()
    assert len(await repo.find_all({"quantity": {"gte": 4}})) == 2  # no index: a Scan
    assert calls.names == ["Scan"]

    calls.clear()
    assert [w.id for w in await repo.find_all({"id": ["w001", "w004"]}, sort="id")] == [
        "w001",
        "w004",
    ]
    assert calls.names == ["BatchGetItem"]


async def test_count_uses_select_count_and_hides_expired_items(
    ddb: tuple[DynamoDbBackend, RepositoryProvider],
) -> None:
    backend, provider = ddb
    sessions = provider.of(Session)
    now = int(time.time())
    await sessions.add_many([Session(user=f"u{i}", expires_at=now + 3600) for i in range(4)])
    await sessions.add(Session(user="gone", expires_at=now - 5))
    calls = Calls(backend)
    assert await sessions.count() == 4
    assert await sessions.count({"user": {"begins_with": "u"}}) == 4
    scans = [params for name, params in calls.log if name == "Scan"]
    assert scans
    assert all(params.get("Select") == "COUNT" for params in scans)
    assert "DescribeTable" not in calls.names  # never the approximate ItemCount


async def test_unsorted_pages_resume_from_the_last_key_and_tampering_is_refused(
    ddb: tuple[DynamoDbBackend, RepositoryProvider],
) -> None:
    _, provider = ddb
    repo = provider.of(Widget)
    await repo.add_many([widget(i) for i in range(7)])
    first = await repo.find(Query(limit=3))
    assert first.next_cursor is not None
    token = first.next_cursor
    signed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    payload = json.loads(signed[:-16])  # the payload, then its 16-byte HMAC
    assert payload["x"] == {"id": first.items[-1].id}  # DynamoDB's ExclusiveStartKey

    seen = [w.id for w in first.items]
    cursor: str | None = first.next_cursor
    while cursor is not None:
        page = await repo.find(Query(limit=3, cursor=cursor))
        seen.extend(w.id for w in page.items)
        cursor = page.next_cursor
    assert sorted(seen) == [f"w{i:03d}" for i in range(7)]
    assert len(seen) == 7

    # Forged payloads signed with the right key: the adapter's own checks must refuse them.
    signer = prepare(provider.registry.for_entity(Widget), Query(limit=3)).signer
    assert signer is not None

    def forged(**changes: Any) -> str:
        return signer.encode({**payload, **changes})

    for bad in [
        forged(x={"id": "w001", "extra": "1"}),
        forged(x={"id": ""}),
        forged(x=["w001"]),
        forged(p="scan:0000000000000000"),
        first.next_cursor[:-3],
    ]:
        with pytest.raises(InvalidCursor):
            await repo.find(Query(limit=3, cursor=bad))
    with pytest.raises(InvalidCursor):  # another filter, another access path
        await repo.find(Query(filter={"status": "active"}, limit=3, cursor=first.next_cursor))
    with pytest.raises(InvalidCursor):  # a sorted query pages by keyset, not by key
        await repo.find(Query(sort="id", limit=3, cursor=first.next_cursor))


# --- partial batches ---------------------------------------------------------------------------


def unprocessed_injector(
    backend: DynamoDbBackend, drop: Callable[[dict[str, Any]], bool]
) -> list[int]:
    """Make BatchWriteItem leave the requests ``drop`` picks unprocessed: they are taken out of
    the request before it is sent and handed back as UnprocessedItems, as DynamoDB does when
    throttled. Returns the sizes of the requests sent."""
    sizes: list[int] = []

    def before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        held: dict[str, list[dict[str, Any]]] = {}
        sent: dict[str, list[dict[str, Any]]] = {}
        for table, requests in params["RequestItems"].items():
            sizes.append(len(requests))
            for request in requests:
                (held if drop(request) else sent).setdefault(table, []).append(request)
        if not sent:  # everything refused: send one harmless no-op delete instead
            table = next(iter(held))
            sent = {table: [{"DeleteRequest": {"Key": {"id": {"S": "__none__"}}}}]}
        params["RequestItems"] = sent
        context["held"] = held

    def after(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get("held"):
            parsed["UnprocessedItems"] = context["held"]

    events = backend.client.meta.events
    events.register("before-parameter-build.dynamodb.BatchWriteItem", before)
    events.register("after-call.dynamodb.BatchWriteItem", after)
    return sizes


def _id_of(request: dict[str, Any]) -> str:
    body = request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"]
    return str(body["id"]["S"])


async def test_large_batches_go_25_at_a_time_and_unprocessed_items_are_retried(
    ddb: tuple[DynamoDbBackend, RepositoryProvider],
) -> None:
    backend, provider = ddb
    teams = provider.of(Team)
    # The first request of each id is refused once; the retries must get them all written.
    refused: set[str] = set()

    def once(request: dict[str, Any]) -> bool:
        key = _id_of(request)
        if key.endswith("7") and key not in refused:
            refused.add(key)
            return True
        return False

    sizes = unprocessed_injector(backend, once)
    stored = await teams.add_many([Team(id=f"t{i:03d}", name=f"team {i}") for i in range(130)])
    assert len(stored) == 130
    assert max(sizes) == 25
    assert len(sizes) > 130 // 25 + 1, "unprocessed items were sent again"
    assert len(refused) == 13
    assert await teams.count() == 130
    assert await teams.delete_many([t.id for t in stored]) == 130
    assert await teams.count() == 0


async def test_batch_write_error_names_exactly_the_ids_not_written(
    ddb: tuple[DynamoDbBackend, RepositoryProvider],
) -> None:
    backend, provider = ddb
    teams = provider.of(Team)
    poisoned = {"t005", "t050", "t101"}
    unprocessed_injector(backend, lambda request: _id_of(request) in poisoned)
    with pytest.raises(BatchWriteError) as info:
        await teams.add_many([Team(id=f"t{i:03d}", name="x") for i in range(120)])
    assert sorted(info.value.failed_keys) == sorted(poisoned)
    assert await teams.count() == 117
    assert await teams.get_many(sorted(poisoned)) == []


async def test_small_batches_are_one_transaction(
    ddb: tuple[DynamoDbBackend, RepositoryProvider],
) -> None:
    backend, provider = ddb
    repo = provider.of(Widget)
    calls = Calls(backend)
    await repo.add_many([widget(i) for i in range(40)])  # 40 items + 40 sku claims = 80 actions
    assert calls.names == ["TransactWriteItems"]
    with pytest.raises(AlreadyExists) as info:
        await repo.add_many([widget(100), widget(101, sku="SKU-001")])
    assert info.value.field == "sku"
    assert await repo.count() == 40


def replies_lost(backend: DynamoDbBackend, operation: str, lost: Mapping[int, bool]) -> list[int]:
    """The reply to each attempt of ``operation`` numbered in ``lost`` (from 1) never reaches
    the client, after the request reached DynamoDB and was applied (True) or not (False): the
    client times out, as when the server answers after the read timeout under load, and
    botocore sends the same request again. Returns the numbers of the attempts sent."""
    sent: list[int] = []
    client: Any = backend.client

    async def before_send(request: Any, **_: Any) -> None:
        sent.append(len(sent) + 1)
        if sent[-1] in lost:
            if lost[sent[-1]]:
                await client._endpoint.http_session.send(request)
            raise ReadTimeoutError(endpoint_url=request.url, error="the reply came too late")

    client.meta.events.register(f"before-send.dynamodb.{operation}", before_send)
    return sent


async def test_a_write_applied_whose_reply_was_lost_is_not_refused_by_its_own_resend(
    ddb: tuple[DynamoDbBackend, RepositoryProvider],
) -> None:
    """botocore resends a write whose reply timed out. DynamoDB answers a resent transaction by
    its ClientRequestToken, but a PutItem has no token and moto ignores it: the resend fails on
    the write itself (its id taken by its own item), which is no refusal."""
    backend, provider = ddb
    teams = provider.of(Team)
    puts = replies_lost(backend, "PutItem", {1: True, 4: False})
    assert await teams.add(Team(id="t1", name="mine")) == Team(id="t1", name="mine", version=1)
    assert puts == [1, 2]
    # Resent after a first attempt that never arrived: someone else's item is a refusal.
    await teams.add(Team(id="t2", name="theirs"))
    with pytest.raises(AlreadyExists) as taken:
        await teams.add(Team(id="t2", name="mine"))
    assert taken.value.field == "id"
    assert puts == [1, 2, 3, 4, 5]
    assert (await teams.get_or_raise("t2")).name == "theirs"

    # add_many in transactions of 100 actions: the first one's reply lost, then resent.
    repo = provider.of(Widget)
    transactions = replies_lost(backend, "TransactWriteItems", {1: True, 5: True})
    assert len(await repo.add_many([widget(i) for i in range(120)])) == 120  # 3 transactions
    assert transactions == [1, 2, 3, 4]
    assert await repo.count() == 120
    # A sku taken in the last transaction: the first one, applied and resent, is undone too.
    clash = [*(widget(i) for i in range(200, 260)), widget(260, sku="SKU-001")]
    with pytest.raises(AlreadyExists) as info:
        await repo.add_many(clash)  # 2 transactions
    assert info.value.field == "sku"
    assert transactions[4:7] == [5, 6, 7]
    assert await repo.count() == 120
    assert await repo.get_many([w.id for w in clash]) == []


async def test_a_resent_change_is_not_taken_for_an_identical_change_by_another_writer(
    ddb: tuple[DynamoDbBackend, RepositoryProvider],
) -> None:
    """Two writers make the same change from the same version (a throttle counter's next
    attempt). The loser's first attempt never arrives, the winner's lands, and the loser's
    resend finds exactly what it meant to write: still a conflict, never a second success."""
    backend, provider = ddb
    teams = provider.of(Team)
    await teams.add(Team(id="t1", name="first"))
    client: Any = backend.client
    winner: list[Team] = []
    sends: list[str] = []

    async def the_other_writer_gets_in(request: Any, **_: Any) -> None:
        sends.append(request.url)
        if len(sends) == 1:  # the loser's first attempt: lost on the way, after the winner's
            winner.append(await teams.update_fields("t1", {"name": "next"}, expected_version=1))
            raise ReadTimeoutError(endpoint_url=request.url, error="the reply came too late")

    for operation in ("PutItem", "UpdateItem"):
        client.meta.events.register(f"before-send.dynamodb.{operation}", the_other_writer_gets_in)
    with pytest.raises(ConcurrencyConflict):
        await teams.update_fields("t1", {"name": "next"}, expected_version=1)
    assert winner == [Team(id="t1", name="next", version=2)]
    assert await teams.get_or_raise("t1") == Team(id="t1", name="next", version=2)


# --- integrity: staged writes, reference counters, units of work --------------------------------


@pytest.fixture
async def linked(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[DynamoDbBackend, RepositoryProvider]]:
    """The integrity contract's entities (enforced references, a compound unique key)."""
    endpoint = dynamodb_endpoint(request)
    registry = build_integrity_registry(uuid.uuid4().hex[:10])
    backend = make_backend(endpoint)
    provider = RepositoryProvider(registry, {"dynamodb": lambda: backend}, "dynamodb")
    await provider.start(create_schema=True)
    try:
        yield backend, provider
    finally:
        await backend.drop(list(registry))
        await provider.close()


async def test_writes_cost_one_request_after_the_reads_they_need(
    linked: tuple[DynamoDbBackend, RepositoryProvider],
) -> None:
    backend, provider = linked
    calls = Calls(backend)
    member = await provider.of(Member).add(Member(name="Ada"))
    assert calls.names == ["PutItem"]
    calls.clear()
    renamed = await provider.of(Member).update_fields(member.id, {"name": "Bo"})
    assert calls.names == ["GetItem", "UpdateItem"]  # read, validate, write guarded by version
    calls.clear()
    project = await provider.of(Project).add(Project(name="P"))
    task = await provider.of(Task).add(Task(project_id=project.id, assignee_id=member.id))
    (params,) = [p for name, p in calls.log if name == "TransactWriteItems"]
    assert sorted(next(iter(a)) for a in params["TransactItems"]) == ["Put", "Update", "Update"]
    calls.clear()
    await provider.of(Member).delete(member.id)  # set_null on the task, in one transaction
    assert calls.names == ["GetItem", "Query", "TransactWriteItems"]
    unassigned = await provider.of(Task).get_or_raise(task.id)
    assert (unassigned.assignee_id, unassigned.version) == (None, task.version)
    assert renamed.version == 2


async def test_a_unit_of_work_sends_one_transaction_of_merged_actions(
    linked: tuple[DynamoDbBackend, RepositoryProvider],
) -> None:
    backend, provider = linked
    calls = Calls(backend)
    async with provider.unit_of_work() as uow:
        project = await uow.of(Project).add(Project(name="P", code="p-1"))
        task = await uow.of(Task).add(Task(project_id=project.id))
        await uow.of(Step).add(Step(task_id=task.id))
        renamed = await uow.of(Project).update_fields(project.id, {"name": "Renamed"})
        assert calls.names == []  # nothing is sent before the exit
    assert calls.names == ["TransactWriteItems"]
    (params,) = [p for _, p in calls.log]
    actions = params["TransactItems"]
    # The project, its code, the task, the step: the task's count of the project and the
    # rename are merged into the project's Put (one action per item).
    assert [next(iter(a)) for a in actions] == ["Put"] * 4
    stored = next(
        a["Put"]["Item"] for a in actions if a["Put"]["Item"].get("id", {}).get("S") == project.id
    )
    assert stored["name"] == {"S": "Renamed"}
    assert stored["_ref_task_project_id"] == {"N": "1"}
    assert renamed.version == 2
    assert await provider.of(Project).get_or_raise(project.id) == renamed  # counter stays hidden
    assert await provider.of(Project).distinct("name") == ["Renamed"]


async def test_units_too_large_for_one_transaction_send_nothing(
    linked: tuple[DynamoDbBackend, RepositoryProvider],
) -> None:
    backend, provider = linked
    calls = Calls(backend)

    async def too_large() -> None:
        async with provider.unit_of_work() as uow:
            for n in range(101):
                await uow.of(Member).add(Member(name=f"m{n}"))

    with pytest.raises(TransactionTooLarge):
        await too_large()
    assert "TransactWriteItems" not in calls.names
    assert await provider.of(Member).count() == 0
    # A cascade that cannot fit in one transaction is refused before anything is sent.
    project = await provider.of(Project).add(Project(name="P"))
    task = await provider.of(Task).add(Task(project_id=project.id))
    await provider.of(Step).add_many([Step(task_id=task.id) for _ in range(100)])
    with pytest.raises(TransactionTooLarge):
        await provider.of(Task).delete(task.id)
    assert await provider.of(Step).count() == 100
    await provider.of(Step).delete_many([s.id for s in await provider.of(Step).find_all()])
    await provider.of(Task).delete(task.id)
    assert await provider.of(Task).count() == 0


async def test_a_unit_raises_reference_and_version_failures_at_its_exit(
    linked: tuple[DynamoDbBackend, RepositoryProvider],
) -> None:
    _, provider = linked
    project = await provider.of(Project).add(Project(name="P"))
    member = await provider.of(Member).add(Member(name="Ada"))

    def outside(write: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Another request's write: a task that does not share the unit's context."""
        return asyncio.create_task(write, context=contextvars.Context())

    async def orphan() -> None:
        async with provider.unit_of_work() as uow:
            await uow.of(Task).add(Task(project_id=project.id))
            await outside(provider.of(Project).delete(project.id))

    async def stale() -> None:
        async with provider.unit_of_work() as uow:
            await uow.of(Member).update_fields(member.id, {"name": "Bo"})
            await outside(provider.of(Member).update_fields(member.id, {"name": "Cy"}))

    with pytest.raises(ReferenceNotFound):
        await orphan()
    assert await provider.of(Task).count() == 0
    with pytest.raises(ConcurrencyConflict):
        await stale()
    assert (await provider.of(Member).get_or_raise(member.id)).name == "Cy"


def test_driver_errors_become_plain_messages() -> None:
    detail = {"Error": {"Code": "ValidationException", "Message": "secret driver detail"}}
    refused = translate(ClientError(detail, "PutItem"), "widget", reading=False)  # type: ignore[arg-type]
    assert isinstance(refused, InvalidInput)
    throttled = {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}
    for exc in (
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ClientError(throttled, "Query"),  # type: ignore[arg-type]
        TimeoutError(),
    ):
        unavailable = translate(exc, "widget")
        assert isinstance(unavailable, BackendUnavailable)
        for message in (refused.message, unavailable.message):
            assert "Exception" not in message
            assert "Error" not in message
            assert "secret" not in message
            assert "slow down" not in message


# --- generic-repo's surface --------------------------------------------------------------------


@pytest.fixture
async def tables(
    ddb: tuple[DynamoDbBackend, RepositoryProvider],
) -> AsyncIterator[dict[str, str]]:
    backend, _ = ddb
    client = backend.client
    simple, composite = f"g-simple-{uuid.uuid4().hex[:8]}", f"g-comp-{uuid.uuid4().hex[:8]}"
    await client.create_table(
        TableName=simple,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "email", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "email-index",
                "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    await client.create_table(
        TableName=composite,
        KeySchema=[
            {"AttributeName": "user_id", "KeyType": "HASH"},
            {"AttributeName": "order_id", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "user_id", "AttributeType": "S"},
            {"AttributeName": "order_id", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        yield {"simple": simple, "composite": composite}
    finally:
        await client.delete_table(TableName=simple)
        await client.delete_table(TableName=composite)


async def test_generic_crud_serialization_and_ttl(
    ddb: tuple[DynamoDbBackend, RepositoryProvider], tables: dict[str, str]
) -> None:
    backend, _ = ddb
    repo = backend.generic_repository(tables["simple"], "id", data_expiration_days=7)
    when = dt.datetime(2024, 5, 17, 10, 30, tzinfo=dt.UTC)
    saved = await repo.save(
        "u1",
        {
            "email": "a@x.io",
            "score": 0.1,
            "price": Decimal("19.99"),
            "tags": {"a", "b"},
            "seen": when,
            "profile": {"age": 30, "ratio": 2.5},
        },
    )
    loaded = await repo.load_or_throw("u1")
    assert loaded["score"] == 0.1
    assert isinstance(loaded["score"], float)
    # Schemaless numbers come back as int/float when exact, else Decimal: never rounded.
    assert Decimal(str(loaded["price"])) == Decimal("19.99")
    assert loaded["tags"] == {"a", "b"}
    assert dt.datetime.fromisoformat(loaded["seen"]) == when
    assert loaded["profile"] == {"age": 30, "ratio": 2.5}
    expected_ttl = time.time() + 7 * 86400
    assert abs(saved["_ttl"] - expected_ttl) < 60
    assert abs(loaded["_ttl"] - expected_ttl) < 60

    assert await repo.load("missing") is None
    with pytest.raises(ItemNotFound):
        await repo.load_or_throw("missing")
    with pytest.raises(ValueError, match="missing"):
        await repo.load_or_throw("missing")
    await repo.delete("u1")
    assert await repo.load("u1") is None

    plain = backend.generic_repository(tables["simple"], "id")
    await plain.save("old", {"email": "old@x.io", "_ttl": int(time.time()) - 5})
    assert await plain.load("old") is None, (
        "an item past its TTL is absent before DynamoDB reaps it"
    )
    assert await plain.count() == 0


async def test_generic_conditional_updates(
    ddb: tuple[DynamoDbBackend, RepositoryProvider], tables: dict[str, str]
) -> None:
    backend, _ = ddb
    repo = backend.generic_repository(tables["simple"], "id")
    await repo.save("d1", {"status": "pending", "version": 1, "priority": 7, "email": "d@x.io"})

    updated = await repo.update(
        "d1", {"status": "shipped", "version": 2}, conditions={"status": "pending", "version": 1}
    )
    assert (updated["status"], updated["version"]) == ("shipped", 2)
    with pytest.raises(ConditionFailed) as info:
        await repo.update(
            "d1",
            {"version": 3},
            conditions={"version": 1},
            rejection_message="Document was modified by another user",
        )
    assert info.value.message == "Document was modified by another user"
    with pytest.raises(ConditionFailed):
        await repo.update("d1", {"x": 1}, conditions={"priority": {"gt": 1, "lt": 5}})
    await repo.update("d1", {"x": 1}, conditions={"priority": {"ge": 5, "le": 9}})
    await repo.update("d1", {"y": 1}, conditions={"deleted_at": {"exists": False}})
    await repo.update("d1", {"z": 1}, conditions={"status": ["shipped", "done"]})
    await repo.update("d1", {"w": 1}, conditions={"email": {"iendswith": "X.IO"}})

    await repo.update(
        "d1",
        {"processed": True},
        conditions=Attr("status").eq("shipped")
        & (Attr("priority").gt(5) | Attr("urgent").eq(True)),
    )
    with pytest.raises(ConditionFailed, match="nope"):
        await repo.update(
            "d1", {"processed": False}, conditions=Attr("priority").lt(5), rejection_message="nope"
        )
    assert (await repo.load_or_throw("d1"))["processed"] is True

    with pytest.raises(NotFound):
        await repo.update("ghost", {"status": "x"})
    assert await repo.load("ghost") is None, "updates never create items"


async def test_generic_composite_keys_batches_queries(
    ddb: tuple[DynamoDbBackend, RepositoryProvider], tables: dict[str, str]
) -> None:
    backend, _ = ddb
    orders = backend.generic_repository(tables["composite"], "user_id", sort_key_name="order_id")
    key = {"user_id": "u9", "order_id": "o1"}
    await orders.save_with_composite_key({**key, "status": "draft", "total": 10})
    first = await orders.load_by_composite_key(key)
    assert first is not None
    assert first["total"] == 10
    updated = await orders.update_by_composite_key(
        key, {"total": 150.25}, conditions={"status": "draft"}
    )
    assert updated["total"] == 150.25
    with pytest.raises(ConditionFailed, match="draft orders"):
        await orders.update_by_composite_key(
            key,
            {"total": 1},
            conditions={"status": "shipped"},
            rejection_message="Can only modify draft orders",
        )
    await orders.delete_by_composite_key(key)
    assert await orders.load_by_composite_key(key) is None
    await orders.save_batch(
        [{"user_id": f"u{i % 3}", "order_id": f"o{i:03d}", "n": i} for i in range(60)]
    )
    assert len(await orders.find_all("u1")) == 20
    assert len(await orders.find_all("u1", filters={"n": {"gte": 30}})) == 10
    assert await orders.count() == 60
    assert await orders.count({"n": {"lt": 10}}) == 10
    assert len([item async for item in orders.load_all(filters={"n": [1, 2, 3]})]) == 3
    await orders.delete_batch_by_keys(
        [{"user_id": f"u{i % 3}", "order_id": f"o{i:03d}"} for i in range(60)]
    )
    assert await orders.count() == 0

    users = backend.generic_repository(tables["simple"], "id")
    await users.save_batch(
        [{"id": f"u{i}", "email": f"u{i % 2}@x.io", "active": i % 3 == 0} for i in range(6)]
    )
    calls = Calls(backend)
    found = await users.find_all_with_index("email-index", "email", "u0@x.io")
    assert sorted(u["id"] for u in found) == ["u0", "u2", "u4"]
    one = await users.find_one_with_index(
        "email-index", "email", "u1@x.io", filters={"active": True}
    )
    assert one is not None
    assert one["id"] == "u3"
    assert set(calls.names) == {"Query"}
    # generic-repo's README iterates the async index query
    streamed = [u["id"] async for u in users.find_all_with_index("email-index", "email", "u1@x.io")]
    assert sorted(streamed) == ["u1", "u3", "u5"]


async def test_generic_repo_examples_with_the_wrong_keys_say_which_argument_is_missing(
    ddb: tuple[DynamoDbBackend, RepositoryProvider], tables: dict[str, str]
) -> None:
    """generic-repo's composite-key example on a repository created without ``sort_key_name``:
    the error names the argument to add, and nothing is written."""
    backend, _ = ddb
    orders = backend.generic_repository(tables["composite"], "user_id")
    composite_data = {"partition_key": "USER", "sort_key": "profile#123", "name": "John Doe"}
    with pytest.raises(InvalidInput, match="sort_key_name"):
        await orders.save_with_composite_key(composite_data)
    with pytest.raises(InvalidInput, match="sort_key_name"):
        await orders.load_by_composite_key({"partition_key": "USER", "sort_key": "profile#123"})
    assert await orders.count() == 0


async def test_generic_repository_opens_its_own_client(
    request: pytest.FixtureRequest, tables: dict[str, str]
) -> None:
    endpoint = dynamodb_endpoint(request)
    options: dict[str, Any] = {
        "region_name": REGION,
        "endpoint_url": endpoint,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    async with AsyncGenericRepository(tables["simple"], "id", **options) as repo:
        await repo.save("a", {"email": "a@x.io"})
        assert await repo.count() == 1

    def blocking() -> tuple[dict[str, Any] | None, list[str], int]:
        with GenericRepository(tables["simple"], "id", data_expiration_days=1, **options) as sync:
            sync.save("b", {"email": "b@x.io", "n": 1.5})
            sync.update("b", {"n": 2.5}, conditions={"n": {"lt": 2}})
            with pytest.raises(ConditionFailed):
                sync.update("b", {"n": 3}, conditions={"n": {"lt": 2}})
            ids = sorted(item["id"] for item in sync.load_all())
            return sync.load("b"), ids, sync.count()

    loaded, ids, count = await asyncio.to_thread(blocking)
    assert loaded is not None
    assert loaded["n"] == 2.5
    assert "_ttl" in loaded
    assert ids == ["a", "b"]
    assert count == 2
