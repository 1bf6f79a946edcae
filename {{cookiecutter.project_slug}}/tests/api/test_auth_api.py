"""The /auth routes and the auth dependencies over HTTP (ASGI transport, memory identity)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from {{cookiecutter.package_name}}.adapters.http.deps import (
    get_attempt_limiter,
    get_identity_provider,
    get_token_verifier,
)
from {{cookiecutter.package_name}}.adapters.http.errors import install_error_handlers
from {{cookiecutter.package_name}}.adapters.http.routers.auth import build_auth_router
from {{cookiecutter.package_name}}.adapters.http.security import (
    CurrentUser,
    OptionalCurrentUser,
    require_roles,
)
from {{cookiecutter.package_name}}.adapters.identity.memory import MemorySecurityProvider
from {{cookiecutter.package_name}}.adapters.throttle import UnlimitedAttempts
from {{cookiecutter.package_name}}.ports.identity import Principal

from tests.support.identity import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    CodeBox,
    ManualClock,
    memory_provider,
    revoking_verifier,
)


def build_app(codes: CodeBox, identity: MemorySecurityProvider) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    verifier = revoking_verifier(identity)
    # The routes' ports, without the rest of the service (FastAPI's own override mechanism).
    app.dependency_overrides[get_identity_provider] = lambda: identity
    app.dependency_overrides[get_token_verifier] = lambda: verifier
    app.dependency_overrides[get_attempt_limiter] = UnlimitedAttempts  # see test_throttle_api.py
    app.include_router(build_auth_router())

    @app.get("/admin-only")
    async def admin_only(
        user: Annotated[Principal, Depends(require_roles("admin"))],
    ) -> dict[str, str]:
        return {"hello": user.username}

    @app.get("/whoami")
    async def whoami(user: OptionalCurrentUser) -> dict[str, Any]:
        return {"username": user.username if user else None}

    @app.get("/private")
    async def private(user: CurrentUser) -> dict[str, str]:
        return {"username": user.username}

    return app


@pytest.fixture
def codes() -> CodeBox:
    return CodeBox()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(codes: CodeBox, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    identity = memory_provider(
        codes, seed_role_users=True, seed_role_codes=("admin", "operator"), clock=clock
    )
    await identity.start()
    app = build_app(codes, identity)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register_and_login(
    client: httpx.AsyncClient, codes: CodeBox, username: str = "reader"
) -> dict[str, Any]:
    response = await client.post(
        "/auth/register",
        json={
            "username": username,
            "email": f"{username}@example.org",
            "password": STRONG_PASSWORD,
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["confirmed"] is False
    code = codes.latest(username, "confirm_registration")
    assert code not in response.text
    response = await client.post("/auth/confirm", json={"username": username, "code": code})
    assert response.status_code == 204, response.text
    response = await client.post(
        "/auth/login", json={"username": username, "password": STRONG_PASSWORD}
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def admin_token(client: httpx.AsyncClient, codes: CodeBox) -> str:
    password = codes.latest("admin", "seed_password")  # generated, never a fixed literal
    response = await client.post("/auth/login", json={"username": "admin", "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_register_login_me(client: httpx.AsyncClient, codes: CodeBox) -> None:
    tokens = await register_and_login(client, codes)
    assert tokens["token_type"] == "Bearer"
    me = await client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json() == {
        "subject": me.json()["subject"],
        "username": "reader",
        "email": "reader@example.org",
        "roles": [],
    }


async def test_missing_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthenticated"
    assert "Missing bearer token" in response.json()["message"]


@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer a.b.c"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
async def test_bad_token_is_401(client: httpx.AsyncClient, header: dict[str, str]) -> None:
    response = await client.get("/private", headers=header)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert response.json()["message"]


async def test_optional_user(client: httpx.AsyncClient, codes: CodeBox) -> None:
    anonymous = await client.get("/whoami")
    assert anonymous.json() == {"username": None}
    bad = await client.get("/whoami", headers=bearer("a.b.c"))
    assert bad.status_code == 401  # a bad token is never treated as anonymous
    tokens = await register_and_login(client, codes)
    known = await client.get("/whoami", headers=bearer(tokens["access_token"]))
    assert known.json() == {"username": "reader"}


async def test_non_admin_gets_403_and_admin_gets_200(
    client: httpx.AsyncClient, codes: CodeBox
) -> None:
    tokens = await register_and_login(client, codes)
    denied = await client.get("/admin-only", headers=bearer(tokens["access_token"]))
    assert denied.status_code == 403
    assert denied.json() == {"error": "forbidden", "message": "Requires one of the roles: admin"}
    listing = await client.get("/auth/users", headers=bearer(tokens["access_token"]))
    assert listing.status_code == 403

    token = await admin_token(client, codes)
    allowed = await client.get("/admin-only", headers=bearer(token))
    assert allowed.status_code == 200
    assert allowed.json() == {"hello": "admin"}


async def test_weak_password_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register", json={"username": "weak", "email": "w@example.org", "password": "abc"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"
    assert "Password does not meet the policy" in response.json()["message"]


async def test_a_taken_username_is_answered_like_a_free_one(
    client: httpx.AsyncClient, codes: CodeBox
) -> None:
    await register_and_login(client, codes)
    taken = await client.post(
        "/auth/register",
        json={"username": "reader", "email": "r2@example.org", "password": STRONG_PASSWORD},
    )
    free = await client.post(
        "/auth/register",
        json={"username": "writer", "email": "r2@example.org", "password": STRONG_PASSWORD},
    )
    assert taken.status_code == free.status_code == 201
    assert taken.json().keys() == free.json().keys()
    assert {k: v for k, v in taken.json().items() if k not in ("username", "user_sub")} == {
        k: v for k, v in free.json().items() if k not in ("username", "user_sub")
    }
    # The owner hears of it; the account and its password are untouched.
    assert [m.email for m in codes.of("reader", "account_exists")] == ["reader@example.org"]
    login = await client.post(
        "/auth/login", json={"username": "reader", "password": STRONG_PASSWORD}
    )
    assert login.status_code == 200


async def test_wrong_password_and_unknown_user_look_alike(
    client: httpx.AsyncClient, codes: CodeBox
) -> None:
    await register_and_login(client, codes)
    wrong = await client.post("/auth/login", json={"username": "reader", "password": "Nope-123!"})
    ghost = await client.post("/auth/login", json={"username": "ghost", "password": "Nope-123!"})
    assert wrong.status_code == ghost.status_code == 401
    assert wrong.json() == ghost.json()


async def test_refresh_rotation_and_logout(
    client: httpx.AsyncClient, codes: CodeBox, clock: ManualClock
) -> None:
    tokens = await register_and_login(client, codes)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    repeat = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert repeat.json() == refreshed.json()  # within the grace window: the same pair
    clock.advance(31)
    replay = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert replay.status_code == 401

    again = await client.post(
        "/auth/login", json={"username": "reader", "password": STRONG_PASSWORD}
    )
    out = await client.post("/auth/logout", headers=bearer(again.json()["access_token"]))
    assert out.status_code == 204
    # The access token ended with the session: no waiting for its expiry.
    me = await client.get("/auth/me", headers=bearer(again.json()["access_token"]))
    assert me.status_code == 401
    assert me.json()["message"] == "Token has been revoked"
    after = await client.post(
        "/auth/refresh", json={"refresh_token": again.json()["refresh_token"]}
    )
    assert after.status_code == 401


async def test_password_reset_flow(client: httpx.AsyncClient, codes: CodeBox) -> None:
    await register_and_login(client, codes)
    known = await client.post("/auth/forgot-password", json={"username": "reader"})
    unknown = await client.post("/auth/forgot-password", json={"username": "ghost"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()  # no account enumeration
    code = codes.latest("reader", "reset_password")
    assert code not in known.text

    bad = await client.post(
        "/auth/confirm-forgot-password",
        json={"username": "reader", "code": "not-it", "new_password": OTHER_PASSWORD},
    )
    assert bad.status_code == 422
    good = await client.post(
        "/auth/confirm-forgot-password",
        json={"username": "reader", "code": code, "new_password": OTHER_PASSWORD},
    )
    assert good.status_code == 204
    login = await client.post(
        "/auth/login", json={"username": "reader", "password": OTHER_PASSWORD}
    )
    assert login.status_code == 200


async def test_change_password(client: httpx.AsyncClient, codes: CodeBox) -> None:
    tokens = await register_and_login(client, codes)
    headers = bearer(tokens["access_token"])
    wrong = await client.post(
        "/auth/change-password",
        json={"old_password": "Wr0ng-Passw0rd!", "new_password": OTHER_PASSWORD},
        headers=headers,
    )
    assert wrong.status_code == 401
    ok = await client.post(
        "/auth/change-password",
        json={"old_password": STRONG_PASSWORD, "new_password": OTHER_PASSWORD},
        headers=headers,
    )
    assert ok.status_code == 204
    anonymous = await client.post(
        "/auth/change-password",
        json={"old_password": OTHER_PASSWORD, "new_password": STRONG_PASSWORD},
    )
    assert anonymous.status_code == 401


async def test_admin_manages_roles_and_lists_users(
    client: httpx.AsyncClient, codes: CodeBox
) -> None:
    reader = await register_and_login(client, codes)
    headers = bearer(await admin_token(client, codes))

    assigned = await client.post(
        "/auth/users/reader/roles", json={"role": "editor"}, headers=headers
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["roles"] == ["editor"]
    missing = await client.post("/auth/users/ghost/roles", json={"role": "editor"}, headers=headers)
    assert missing.status_code == 404

    page = await client.get("/auth/users", params={"limit": 2}, headers=headers)
    assert page.status_code == 200
    body = page.json()
    assert len(body["items"]) == 2
    assert body["next_cursor"]
    rest = await client.get(
        "/auth/users", params={"limit": 2, "cursor": body["next_cursor"]}, headers=headers
    )
    names = [u["username"] for u in body["items"] + rest.json()["items"]]
    assert sorted(names) == ["admin", "operator", "reader"]
    editors = await client.get("/auth/users", params={"role": "editor"}, headers=headers)
    assert [u["username"] for u in editors.json()["items"]] == ["reader"]
    forged = await client.get("/auth/users", params={"cursor": "%%%"}, headers=headers)
    assert forged.status_code == 400

    removed = await client.delete("/auth/users/reader/roles/editor", headers=headers)
    assert removed.json()["roles"] == []
    # The reader's token said "editor": it stops working; a refresh carries the new roles.
    me = await client.get("/auth/me", headers=bearer(reader["access_token"]))
    assert me.status_code == 401
    renewed = await client.post("/auth/refresh", json={"refresh_token": reader["refresh_token"]})
    me = await client.get("/auth/me", headers=bearer(renewed.json()["access_token"]))
    assert me.json()["roles"] == []


async def test_admin_disables_enables_and_deletes_users(
    client: httpx.AsyncClient, codes: CodeBox
) -> None:
    reader = await register_and_login(client, codes)
    admin = bearer(await admin_token(client, codes))
    login = {"username": "reader", "password": STRONG_PASSWORD}

    forbidden = await client.post(
        "/auth/users/admin/disable", headers=bearer(reader["access_token"])
    )
    assert forbidden.status_code == 403

    disabled = await client.post("/auth/users/reader/disable", headers=admin)
    assert disabled.status_code == 200
    assert disabled.json()["enabled"] is False
    assert (await client.get("/auth/me", headers=bearer(reader["access_token"]))).status_code == 401
    refused = await client.post("/auth/login", json=login)
    ghost = await client.post("/auth/login", json={**login, "username": "ghost"})
    assert refused.status_code == ghost.status_code == 401
    assert refused.json() == ghost.json()

    enabled = await client.post("/auth/users/reader/enable", headers=admin)
    assert enabled.json()["enabled"] is True
    assert (await client.post("/auth/login", json=login)).status_code == 200

    assert (await client.delete("/auth/users/reader", headers=admin)).status_code == 204
    assert (await client.get("/auth/users/reader", headers=admin)).status_code == 404
    assert (await client.delete("/auth/users/reader", headers=admin)).status_code == 404
    assert (await client.post("/auth/login", json=login)).status_code == 401
