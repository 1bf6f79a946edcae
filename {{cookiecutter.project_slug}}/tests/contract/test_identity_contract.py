"""One contract for every IdentityProvider: memory, and Cognito on moto's server.

Where moto lacks a Cognito feature the test is a STRICT xfail on Cognito, naming the gap: it
fails loudly the day moto gains the feature, and nothing is faked meanwhile.
Where Cognito itself differs (refresh-token rotation), the test asserts each backend's documented
behaviour explicitly.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from {{cookiecutter.package_name}}.adapters.identity.cognito import CognitoIdentityProvider
from {{cookiecutter.package_name}}.ports.errors import (
    AlreadyExists,
    AuthenticationFailed,
    BackendUnavailable,
    InvalidCursor,
    InvalidInput,
    NotFound,
)
from {{cookiecutter.package_name}}.ports.identity import AuthTokens, UserStatus

from tests.support.identity import (
    OTHER_PASSWORD,
    REGION,
    STRONG_PASSWORD,
    IdentityUnderTest,
    cognito_identity,
    create_cognito_pool,
    memory_identity,
)
from tests.support.services import free_port


@pytest.fixture(params=["memory", "cognito"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[IdentityUnderTest]:
    if request.param == "memory":
        async with memory_identity() as under_test:
            yield under_test
    else:
        endpoint: str = request.getfixturevalue("moto_endpoint")
        async with cognito_identity(endpoint) as under_test:
            yield under_test


def moto_lacks(backend: IdentityUnderTest, request: pytest.FixtureRequest, feature: str) -> None:
    if backend.name == "cognito":
        request.applymarker(pytest.mark.xfail(reason=f"moto: {feature}", strict=True))


def new_name(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def signed_up(backend: IdentityUnderTest, password: str = STRONG_PASSWORD) -> str:
    username = new_name()
    await backend.provider.register(username, password, f"{username}@example.org")
    await backend.provider.confirm_registration(username, backend.confirmation_code(username))
    return username


async def logged_in(backend: IdentityUnderTest) -> tuple[str, AuthTokens]:
    username = await signed_up(backend)
    return username, await backend.provider.login(username, STRONG_PASSWORD)


# --- register / confirm / login ------------------------------------------------------------------


async def test_register_confirm_login_gives_verifiable_tokens(backend: IdentityUnderTest) -> None:
    username = new_name()
    result = await backend.provider.register(username, STRONG_PASSWORD, f"{username}@example.org")
    assert result.username == username
    assert result.user_sub
    assert result.confirmed is False

    await backend.provider.confirm_registration(username, backend.confirmation_code(username))
    tokens = await backend.provider.login(username, STRONG_PASSWORD)

    assert tokens.token_type == "Bearer"
    assert tokens.expires_in > 0
    assert tokens.access_token
    assert tokens.id_token
    assert tokens.refresh_token
    principal = await backend.verifier.verify(tokens.access_token)
    assert principal.username == username
    assert principal.subject == result.user_sub
    assert principal.claims["token_use"] == "access"


async def test_login_before_confirmation_is_refused(backend: IdentityUnderTest) -> None:
    username = new_name()
    await backend.provider.register(username, STRONG_PASSWORD, f"{username}@example.org")
    with pytest.raises(AuthenticationFailed, match="not confirmed"):
        await backend.provider.login(username, STRONG_PASSWORD)


async def test_wrong_confirmation_code_is_rejected(
    backend: IdentityUnderTest, request: pytest.FixtureRequest
) -> None:
    moto_lacks(backend, request, "ConfirmSignUp accepts any code (no code is generated)")
    username = new_name()
    await backend.provider.register(username, STRONG_PASSWORD, f"{username}@example.org")
    with pytest.raises(InvalidInput, match="code"):
        await backend.provider.confirm_registration(username, "000000x")
    with pytest.raises(AuthenticationFailed):
        await backend.provider.login(username, STRONG_PASSWORD)


async def test_duplicate_username_is_already_exists(backend: IdentityUnderTest) -> None:
    username = await signed_up(backend)
    with pytest.raises(AlreadyExists) as caught:
        await backend.provider.register(username, STRONG_PASSWORD, "other@example.org")
    assert caught.value.field == "username"


@pytest.mark.parametrize("weak", ["short1!", "alllowercase1!", "NoDigits!!", "NoSymbol123"])
async def test_weak_password_is_invalid_input(backend: IdentityUnderTest, weak: str) -> None:
    with pytest.raises(InvalidInput, match=r"[Pp]assword"):
        await backend.provider.register(new_name(), weak, "weak@example.org")


async def test_unknown_user_and_wrong_password_fail_alike(backend: IdentityUnderTest) -> None:
    username = await signed_up(backend)
    with pytest.raises(AuthenticationFailed) as wrong_password:
        await backend.provider.login(username, OTHER_PASSWORD)
    with pytest.raises(AuthenticationFailed) as unknown_user:
        await backend.provider.login(new_name("ghost"), OTHER_PASSWORD)
    assert wrong_password.value.message == unknown_user.value.message
    assert "Incorrect username or password" in unknown_user.value.message


# --- refresh / logout / revoke -------------------------------------------------------------------


async def test_refresh_issues_a_new_access_token(backend: IdentityUnderTest) -> None:
    username, tokens = await logged_in(backend)
    assert tokens.refresh_token is not None
    refreshed = await backend.provider.refresh(tokens.refresh_token, username)
    principal = await backend.verifier.verify(refreshed.access_token)
    assert principal.username == username
    assert refreshed.access_token != tokens.access_token


async def test_refresh_rotation_and_replay(backend: IdentityUnderTest) -> None:
    """Memory rotates: the old refresh token is revoked and replaying it ends the session.
    Cognito (without the pool's rotation feature) keeps the same refresh token valid and returns
    no new one."""
    username, tokens = await logged_in(backend)
    assert tokens.refresh_token is not None
    refreshed = await backend.provider.refresh(tokens.refresh_token, username)
    if backend.rotates_refresh_tokens:
        assert refreshed.refresh_token
        assert refreshed.refresh_token != tokens.refresh_token
        with pytest.raises(AuthenticationFailed, match=r"[Rr]efresh token"):
            await backend.provider.refresh(tokens.refresh_token, username)
        # The replay revoked the whole session, including the rotated token.
        with pytest.raises(AuthenticationFailed):
            await backend.provider.refresh(refreshed.refresh_token, username)
    else:
        assert refreshed.refresh_token is None
        again = await backend.provider.refresh(tokens.refresh_token, username)
        assert again.access_token


async def test_forged_refresh_token_is_rejected(backend: IdentityUnderTest) -> None:
    username = await signed_up(backend)
    with pytest.raises(AuthenticationFailed):
        await backend.provider.refresh("not-a-refresh-token-" + uuid.uuid4().hex, username)


async def test_logout_revokes_every_refresh_token(backend: IdentityUnderTest) -> None:
    username, first = await logged_in(backend)
    second = await backend.provider.login(username, STRONG_PASSWORD)
    await backend.provider.logout(first.access_token)
    for tokens in (first, second):
        assert tokens.refresh_token is not None
        with pytest.raises(AuthenticationFailed):
            await backend.provider.refresh(tokens.refresh_token, username)


async def test_revoke_ends_one_session_only(
    backend: IdentityUnderTest, request: pytest.FixtureRequest
) -> None:
    moto_lacks(backend, request, "RevokeToken is not implemented")
    username, first = await logged_in(backend)
    second = await backend.provider.login(username, STRONG_PASSWORD)
    assert first.refresh_token
    assert second.refresh_token
    await backend.provider.revoke(first.refresh_token, username)
    with pytest.raises(AuthenticationFailed):
        await backend.provider.refresh(first.refresh_token, username)
    assert (await backend.provider.refresh(second.refresh_token, username)).access_token


# --- password reset and change -------------------------------------------------------------------


async def test_forgot_and_confirm_reset(backend: IdentityUnderTest) -> None:
    username = await signed_up(backend)
    result = await backend.provider.forgot_password(username)
    code = backend.reset_code(username)
    assert code not in repr(result)  # the code is delivered out of band, never returned

    await backend.provider.confirm_forgot_password(username, code, OTHER_PASSWORD)

    assert (await backend.provider.login(username, OTHER_PASSWORD)).access_token
    with pytest.raises(AuthenticationFailed):
        await backend.provider.login(username, STRONG_PASSWORD)


async def test_wrong_reset_code_is_rejected(backend: IdentityUnderTest) -> None:
    username = await signed_up(backend)
    await backend.provider.forgot_password(username)
    code = backend.reset_code(username)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(InvalidInput, match="code"):
        await backend.provider.confirm_forgot_password(username, wrong, OTHER_PASSWORD)
    assert (await backend.provider.login(username, STRONG_PASSWORD)).access_token


async def test_reset_code_dies_after_too_many_attempts(
    backend: IdentityUnderTest, request: pytest.FixtureRequest
) -> None:
    moto_lacks(backend, request, "ConfirmForgotPassword has no attempt limit")
    username = await signed_up(backend)
    await backend.provider.forgot_password(username)
    code = backend.reset_code(username)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    for _ in range(5):
        with pytest.raises(InvalidInput):
            await backend.provider.confirm_forgot_password(username, wrong, OTHER_PASSWORD)
    with pytest.raises(InvalidInput):
        await backend.provider.confirm_forgot_password(username, code, OTHER_PASSWORD)


async def test_forgot_password_for_unknown_user_is_silent(backend: IdentityUnderTest) -> None:
    result = await backend.provider.forgot_password(new_name("ghost"))
    assert result is not None


async def test_reset_with_weak_password_is_invalid_input(
    backend: IdentityUnderTest, request: pytest.FixtureRequest
) -> None:
    moto_lacks(backend, request, "ConfirmForgotPassword skips the password policy")
    username = await signed_up(backend)
    await backend.provider.forgot_password(username)
    with pytest.raises(InvalidInput, match=r"[Pp]assword"):
        await backend.provider.confirm_forgot_password(
            username, backend.reset_code(username), "weak"
        )


async def test_change_password(backend: IdentityUnderTest) -> None:
    username, tokens = await logged_in(backend)
    with pytest.raises(AuthenticationFailed):
        await backend.provider.change_password(tokens.access_token, OTHER_PASSWORD, "N3w-Passw0rd!")
    with pytest.raises(InvalidInput):
        await backend.provider.change_password(tokens.access_token, STRONG_PASSWORD, "weak")

    await backend.provider.change_password(tokens.access_token, STRONG_PASSWORD, OTHER_PASSWORD)

    assert (await backend.provider.login(username, OTHER_PASSWORD)).access_token
    with pytest.raises(AuthenticationFailed):
        await backend.provider.login(username, STRONG_PASSWORD)


# --- users and roles -----------------------------------------------------------------------------


async def test_get_user(backend: IdentityUnderTest) -> None:
    username = await signed_up(backend)
    user = await backend.provider.get_user(username)
    assert user.username == username
    assert user.email == f"{username}@example.org"
    assert user.status == UserStatus.CONFIRMED
    assert user.enabled is True
    assert user.roles == ()
    with pytest.raises(NotFound):
        await backend.provider.get_user(new_name("ghost"))


async def test_roles_are_assigned_removed_and_carried_by_tokens(
    backend: IdentityUnderTest,
) -> None:
    username = await signed_up(backend)
    await backend.provider.assign_role(username, "editor")
    await backend.provider.assign_role(username, "admin")
    await backend.provider.assign_role(username, "admin")  # idempotent
    assert (await backend.provider.get_user(username)).roles == ("admin", "editor")

    tokens = await backend.provider.login(username, STRONG_PASSWORD)
    principal = await backend.verifier.verify(tokens.access_token)
    assert principal.roles == {"admin", "editor"}

    await backend.provider.remove_role(username, "admin")
    await backend.provider.remove_role(username, "never-held")  # idempotent
    assert (await backend.provider.get_user(username)).roles == ("editor",)
    tokens = await backend.provider.login(username, STRONG_PASSWORD)
    assert (await backend.verifier.verify(tokens.access_token)).roles == {"editor"}


async def test_ensure_user_creates_once_and_never_resets_the_password(
    backend: IdentityUnderTest,
) -> None:
    username = new_name("seeded")
    user = await backend.provider.ensure_user(
        username, f"{username}@example.org", STRONG_PASSWORD, roles=("admin",)
    )
    assert user.status == UserStatus.CONFIRMED
    assert user.roles == ("admin",)
    tokens = await backend.provider.login(username, STRONG_PASSWORD)
    assert (await backend.verifier.verify(tokens.access_token)).roles == {"admin"}

    again = await backend.provider.ensure_user(
        username, f"{username}@example.org", OTHER_PASSWORD, roles=("admin", "editor")
    )
    assert again.roles == ("admin", "editor")
    assert (await backend.provider.login(username, STRONG_PASSWORD)).access_token
    with pytest.raises(AuthenticationFailed):
        await backend.provider.login(username, OTHER_PASSWORD)


async def test_role_changes_on_unknown_user_are_not_found(backend: IdentityUnderTest) -> None:
    await signed_up(backend)  # the pool and the group exist; only the user does not
    with pytest.raises(NotFound):
        await backend.provider.assign_role(new_name("ghost"), "editor")
    with pytest.raises(NotFound):
        await backend.provider.remove_role(new_name("ghost"), "editor")


async def test_list_users_pages_and_filters_by_role(backend: IdentityUnderTest) -> None:
    names = {await signed_up(backend) for _ in range(5)}
    admins = sorted(names)[:2]
    for name in admins:
        await backend.provider.assign_role(name, "admin")

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await backend.provider.list_users(limit=2, cursor=cursor)
        assert len(page.items) <= 2
        assert all(user.roles is None for user in page.items)  # roles need get_user
        seen += [user.username for user in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(names)
    assert len(seen) == len(set(seen))
    assert pages >= 3

    only_admins = await backend.provider.list_users(limit=10, role="admin")
    assert sorted(user.username for user in only_admins.items) == admins
    assert (await backend.provider.list_users(limit=10, role="nobody-has-it")).items == ()


async def test_forged_cursor_is_invalid(backend: IdentityUnderTest) -> None:
    await signed_up(backend)
    with pytest.raises(InvalidCursor):
        await backend.provider.list_users(limit=2, cursor="Zm9yZ2Vk")


# --- Cognito adapter specifics -------------------------------------------------------------------


async def test_cognito_secret_client_needs_the_username_to_refresh(moto_endpoint: str) -> None:
    async with cognito_identity(moto_endpoint) as backend:
        username, tokens = await logged_in(backend)
        assert tokens.refresh_token is not None
        with pytest.raises(InvalidInput, match="username is required"):
            await backend.provider.refresh(tokens.refresh_token)
        # moto checks SECRET_HASH on refresh: a wrong username gives a wrong hash.
        with pytest.raises(AuthenticationFailed):
            await backend.provider.refresh(tokens.refresh_token, "someone-else")
        assert (await backend.provider.refresh(tokens.refresh_token, username)).access_token


async def test_cognito_client_without_secret(moto_endpoint: str) -> None:
    pool = await create_cognito_pool(moto_endpoint, with_secret=False)
    provider = CognitoIdentityProvider(
        user_pool_id=pool.user_pool_id,
        client_id=pool.client_id,
        region=REGION,
        endpoint_url=moto_endpoint,
    )
    await provider.start()
    try:
        await provider.ping()
        await provider.ensure_user("dora", "dora@example.org", STRONG_PASSWORD)
        tokens = await provider.login("dora", STRONG_PASSWORD)
        assert tokens.refresh_token is not None
        assert (await provider.refresh(tokens.refresh_token)).access_token
    finally:
        await provider.close()


async def test_cognito_unreachable_is_backend_unavailable() -> None:
    provider = CognitoIdentityProvider(
        user_pool_id="us-east-1_nowhere",
        client_id="client",
        region=REGION,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        connect_timeout_seconds=1,
        max_attempts=1,
    )
    await provider.start()
    try:
        with pytest.raises(BackendUnavailable, match="Cognito is unavailable"):
            await provider.login("anyone", STRONG_PASSWORD)
        with pytest.raises(BackendUnavailable):
            await provider.ping()
    finally:
        await provider.close()


async def test_cognito_missing_pool_is_backend_unavailable(moto_endpoint: str) -> None:
    provider = CognitoIdentityProvider(
        user_pool_id="us-east-1_doesnotexist",
        client_id="no-such-client",
        region=REGION,
        endpoint_url=moto_endpoint,
        max_attempts=1,
    )
    await provider.start()
    try:
        with pytest.raises(BackendUnavailable, match="user pool or app client not found"):
            await provider.get_user("anyone")
    finally:
        await provider.close()


async def test_cognito_provider_must_be_started() -> None:
    provider = CognitoIdentityProvider(user_pool_id="p", client_id="c", region=REGION)
    with pytest.raises(RuntimeError, match="not started"):
        await provider.get_user("anyone")
