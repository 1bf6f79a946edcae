"""One contract for every IdentityProvider: the repository provider on each persistence backend
(memory, PostgreSQL, MongoDB, DynamoDB), the in-process memory provider, and Cognito on moto's
server.

Where moto lacks a Cognito feature the test is a STRICT xfail on Cognito, naming the gap: it
fails loudly the day moto gains the feature, and nothing is faked meanwhile.
Where Cognito itself differs (refresh-token rotation), the test asserts each backend's documented
behaviour explicitly.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from {{cookiecutter.package_name}}.adapters.identity.cognito import CognitoIdentityProvider
from {{cookiecutter.package_name}}.ports.errors import (
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
    repository_identity,
)
from tests.support.services import free_port

REPOSITORY_BACKENDS = ["repository-memory", "repository-postgres", "repository-mongo"]
REPOSITORY_BACKENDS += ["repository-dynamodb"]
GRACE_SECONDS = 30  # the providers' default refresh grace window


@pytest.fixture(params=["memory", *REPOSITORY_BACKENDS, "cognito"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[IdentityUnderTest]:
    if request.param == "memory":
        async with memory_identity() as under_test:
            yield under_test
    elif request.param == "cognito":
        endpoint: str = request.getfixturevalue("moto_endpoint")
        async with cognito_identity(endpoint) as under_test:
            yield under_test
    else:
        store = request.param.removeprefix("repository-")
        async with repository_identity(request, store) as under_test:
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
    """Refused with the wrong-password message (no enumeration); the account stays confirmable
    (the right password sends its owner a new code)."""
    username = new_name()
    await backend.provider.register(username, STRONG_PASSWORD, f"{username}@example.org")
    with pytest.raises(AuthenticationFailed) as unconfirmed:
        await backend.provider.login(username, STRONG_PASSWORD)
    with pytest.raises(AuthenticationFailed) as wrong_password:
        await backend.provider.login(username, OTHER_PASSWORD)
    assert unconfirmed.value.message == wrong_password.value.message
    assert "Incorrect username or password" in unconfirmed.value.message

    await backend.provider.confirm_registration(username, backend.confirmation_code(username))
    assert (await backend.provider.login(username, STRONG_PASSWORD)).access_token


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


async def test_duplicate_username_answers_like_a_new_one(backend: IdentityUnderTest) -> None:
    """No enumeration: a taken username gets the answer a new one gets, the account is left
    alone, and its owner is told."""
    username = await signed_up(backend)
    fresh_name = new_name()
    fresh = await backend.provider.register(fresh_name, STRONG_PASSWORD, "other@example.org")

    taken = await backend.provider.register(username, OTHER_PASSWORD, "other@example.org")

    assert taken.username == username
    assert taken.confirmed is False
    assert str(uuid.UUID(taken.user_sub)) == taken.user_sub
    assert len(taken.user_sub) == len(fresh.user_sub)
    assert taken.user_sub != (await backend.provider.get_user(username)).subject
    assert (taken.delivery is None) == (fresh.delivery is None)
    assert (await backend.provider.login(username, STRONG_PASSWORD)).access_token
    with pytest.raises(AuthenticationFailed):
        await backend.provider.login(username, OTHER_PASSWORD)
    notices = backend.outbox.of(username, "account_exists")
    assert len(notices) == 1
    assert notices[0].email == f"{username}@example.org"
    assert backend.outbox.of(fresh_name, "account_exists") == []


async def test_duplicate_username_reports_the_same_code_delivery(
    backend: IdentityUnderTest, request: pytest.FixtureRequest
) -> None:
    moto_lacks(
        backend,
        request,
        "SignUp reports the account-recovery medium (an SMS to a made-up number), not the"
        " auto-verified e-mail the code goes to",
    )
    username = await signed_up(backend)
    fresh = await backend.provider.register(new_name(), STRONG_PASSWORD, "other@example.org")
    taken = await backend.provider.register(username, STRONG_PASSWORD, "other@example.org")
    assert fresh.delivery is not None
    assert fresh.delivery.medium == "EMAIL"
    assert taken.delivery == fresh.delivery  # the same masking of the same address


async def test_weak_password_is_refused_alike_for_a_taken_username(
    backend: IdentityUnderTest,
) -> None:
    username = await signed_up(backend)
    with pytest.raises(InvalidInput) as taken:
        await backend.provider.register(username, "weak", "other@example.org")
    with pytest.raises(InvalidInput) as free:
        await backend.provider.register(new_name(), "weak", "other@example.org")
    assert taken.value.message == free.value.message
    assert backend.outbox.of(username, "account_exists") == []


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
    """The built-in providers rotate: the old refresh token is retired, and presenting it after
    the grace window is a replay that ends the session. Cognito (without the pool's rotation
    feature) keeps the same refresh token valid and returns no new one."""
    username, tokens = await logged_in(backend)
    assert tokens.refresh_token is not None
    refreshed = await backend.provider.refresh(tokens.refresh_token, username)
    if backend.rotates_refresh_tokens:
        assert backend.clock is not None
        assert refreshed.refresh_token
        assert refreshed.refresh_token != tokens.refresh_token
        backend.clock.advance(GRACE_SECONDS + 1)
        with pytest.raises(AuthenticationFailed, match=r"[Rr]efresh token"):
            await backend.provider.refresh(tokens.refresh_token, username)
        # The replay revoked the whole session, including the rotated token.
        with pytest.raises(AuthenticationFailed):
            await backend.provider.refresh(refreshed.refresh_token, username)
    else:
        assert refreshed.refresh_token is None
        again = await backend.provider.refresh(tokens.refresh_token, username)
        assert again.access_token


async def test_parallel_refreshes_with_one_token_all_get_the_same_new_pair(
    backend: IdentityUnderTest,
) -> None:
    """Two tabs refreshing at once must not log their user out: within the grace window every
    presentation of the token gets the pair the first one got, and the session lives on."""
    username, tokens = await logged_in(backend)
    assert tokens.refresh_token is not None
    results = await asyncio.gather(
        *(backend.provider.refresh(tokens.refresh_token, username) for _ in range(10))
    )
    if not backend.rotates_refresh_tokens:  # Cognito: the same refresh token stays valid
        assert {r.refresh_token for r in results} == {None}
        assert await backend.provider.refresh(tokens.refresh_token, username)
        return
    assert {r.refresh_token for r in results} == {results[0].refresh_token}
    assert {r.access_token for r in results} == {results[0].access_token}
    assert results[0].refresh_token is not None
    following = await backend.provider.refresh(results[0].refresh_token, username)
    assert (await backend.verifier.verify(following.access_token)).username == username


async def test_a_grace_repeat_after_the_next_rotation_is_a_replay(
    backend: IdentityUnderTest,
) -> None:
    username, tokens = await logged_in(backend)
    assert tokens.refresh_token is not None
    second = await backend.provider.refresh(tokens.refresh_token, username)
    if backend.clock is None:  # Cognito without rotation: the one refresh token stays valid
        assert second.refresh_token is None
        assert await backend.provider.refresh(tokens.refresh_token, username)
        return
    assert second.refresh_token is not None
    backend.clock.advance(1)
    third = await backend.provider.refresh(second.refresh_token, username)
    assert third.refresh_token is not None
    # The first token is two rotations old: a stolen copy, whatever the clock says.
    with pytest.raises(AuthenticationFailed):
        await backend.provider.refresh(tokens.refresh_token, username)
    with pytest.raises(AuthenticationFailed):
        await backend.provider.refresh(third.refresh_token, username)


async def test_a_made_up_refresh_token_ends_nothing(
    backend: IdentityUnderTest, request: pytest.FixtureRequest
) -> None:
    """Only a token really issued in the session counts as a replay: guessing the session id
    (it is in the access token's ``sid``) must not let anyone log another user out."""
    moto_lacks(backend, request, "RevokeToken is not implemented (500)")
    username, tokens = await logged_in(backend)
    assert tokens.refresh_token is not None
    session_id = tokens.refresh_token.split(".", 1)[0]  # all of it for Cognito's opaque tokens
    for made_up in (f"{session_id}.{'A' * 43}", f"{session_id[:40]}{'B' * 20}"):
        with pytest.raises(AuthenticationFailed):
            await backend.provider.refresh(made_up, username)
        await backend.provider.revoke(made_up, username)
    assert (await backend.provider.refresh(tokens.refresh_token, username)).access_token


# --- revocation: earlier access tokens stop working ----------------------------------------------


async def assert_revoked(backend: IdentityUnderTest, access_token: str) -> None:
    """Refused by the built-in providers' verifier; on Cognito the JWT still verifies locally
    until it expires (Cognito revokes refresh tokens only: docs/identity.md)."""
    if backend.name == "cognito":
        assert await backend.verifier.verify(access_token)
        return
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await backend.verifier.verify(access_token)


async def test_logout_revokes_the_access_tokens_issued(backend: IdentityUnderTest) -> None:
    username, first = await logged_in(backend)
    second = await backend.provider.login(username, STRONG_PASSWORD)
    await backend.provider.logout(first.access_token)
    await assert_revoked(backend, first.access_token)
    await assert_revoked(backend, second.access_token)
    fresh = await backend.provider.login(username, STRONG_PASSWORD)
    assert (await backend.verifier.verify(fresh.access_token)).username == username


async def test_change_password_ends_other_sessions_and_earlier_tokens(
    backend: IdentityUnderTest,
) -> None:
    username, mine = await logged_in(backend)
    other = await backend.provider.login(username, STRONG_PASSWORD)
    await backend.provider.change_password(mine.access_token, STRONG_PASSWORD, OTHER_PASSWORD)
    await assert_revoked(backend, other.access_token)
    assert other.refresh_token is not None
    assert mine.refresh_token is not None
    if backend.name == "cognito":
        return  # Cognito's ChangePassword leaves refresh tokens alone (docs/identity.md)
    await assert_revoked(backend, mine.access_token)
    with pytest.raises(AuthenticationFailed):
        await backend.provider.refresh(other.refresh_token, username)
    # This session carries on: its refresh token gets tokens the verifier accepts.
    renewed = await backend.provider.refresh(mine.refresh_token, username)
    assert (await backend.verifier.verify(renewed.access_token)).username == username


async def test_a_role_change_revokes_tokens_carrying_the_old_roles(
    backend: IdentityUnderTest,
) -> None:
    username, tokens = await logged_in(backend)
    await backend.provider.assign_role(username, "editor")
    await assert_revoked(backend, tokens.access_token)
    if backend.name == "cognito":
        return
    assert tokens.refresh_token is not None
    renewed = await backend.provider.refresh(tokens.refresh_token, username)
    assert (await backend.verifier.verify(renewed.access_token)).roles == {"editor"}
    await backend.provider.assign_role(username, "editor")  # no change: nothing revoked
    assert await backend.verifier.verify(renewed.access_token)


async def test_a_reset_revokes_the_access_tokens_issued(backend: IdentityUnderTest) -> None:
    username, tokens = await logged_in(backend)
    await backend.provider.forgot_password(username)
    await backend.provider.confirm_forgot_password(
        username, backend.reset_code(username), OTHER_PASSWORD
    )
    await assert_revoked(backend, tokens.access_token)


async def test_disable_and_delete_revoke_the_access_tokens_issued(
    backend: IdentityUnderTest,
) -> None:
    disabled, first = await logged_in(backend)
    deleted, second = await logged_in(backend)
    await backend.provider.disable_user(disabled)
    await backend.provider.delete_user(deleted)
    await assert_revoked(backend, first.access_token)
    await assert_revoked(backend, second.access_token)


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


# --- account lifecycle (disable, enable, delete) -------------------------------------------------


async def test_disabled_account_cannot_log_in_or_refresh(backend: IdentityUnderTest) -> None:
    username, tokens = await logged_in(backend)
    await backend.provider.disable_user(username)
    await backend.provider.disable_user(username)  # idempotent

    assert (await backend.provider.get_user(username)).enabled is False
    with pytest.raises(AuthenticationFailed) as disabled:
        await backend.provider.login(username, STRONG_PASSWORD)
    with pytest.raises(AuthenticationFailed) as wrong_password:
        await backend.provider.login(username, OTHER_PASSWORD)
    assert disabled.value.message == wrong_password.value.message
    assert tokens.refresh_token is not None
    with pytest.raises(AuthenticationFailed):
        await backend.provider.refresh(tokens.refresh_token, username)


async def test_enabled_account_logs_in_again(backend: IdentityUnderTest) -> None:
    username, before = await logged_in(backend)
    await backend.provider.disable_user(username)
    await backend.provider.enable_user(username)
    await backend.provider.enable_user(username)  # idempotent

    assert (await backend.provider.get_user(username)).enabled is True
    tokens = await backend.provider.login(username, STRONG_PASSWORD)
    assert (await backend.verifier.verify(tokens.access_token)).username == username
    # The sessions the disable ended stay ended.
    assert before.refresh_token is not None
    with pytest.raises(AuthenticationFailed):
        await backend.provider.refresh(before.refresh_token, username)


async def test_deleted_account_is_gone(backend: IdentityUnderTest) -> None:
    username, tokens = await logged_in(backend)
    await backend.provider.delete_user(username)

    with pytest.raises(NotFound):
        await backend.provider.get_user(username)
    with pytest.raises(AuthenticationFailed) as deleted:
        await backend.provider.login(username, STRONG_PASSWORD)
    with pytest.raises(AuthenticationFailed) as unknown:
        await backend.provider.login(new_name("ghost"), STRONG_PASSWORD)
    assert deleted.value.message == unknown.value.message
    assert tokens.refresh_token is not None
    with pytest.raises(AuthenticationFailed):
        await backend.provider.refresh(tokens.refresh_token, username)
    with pytest.raises(NotFound):
        await backend.provider.delete_user(username)

    # The name is free again: a new registration is a new account, not a duplicate.
    await backend.provider.register(username, OTHER_PASSWORD, f"{username}@example.org")
    assert backend.outbox.of(username, "account_exists") == []


async def test_lifecycle_of_an_unknown_user_is_not_found(backend: IdentityUnderTest) -> None:
    await signed_up(backend)  # the pool exists; only the user does not
    ghost = new_name("ghost")
    with pytest.raises(NotFound):
        await backend.provider.disable_user(ghost)
    with pytest.raises(NotFound):
        await backend.provider.enable_user(ghost)
    with pytest.raises(NotFound):
        await backend.provider.delete_user(ghost)


async def test_confirm_for_an_unknown_user_is_invalid_input(backend: IdentityUnderTest) -> None:
    with pytest.raises(InvalidInput, match="code"):
        await backend.provider.confirm_registration(new_name("ghost"), "123456")


async def test_confirm_fails_alike_for_a_wrong_code_an_unknown_and_a_confirmed_user(
    backend: IdentityUnderTest, request: pytest.FixtureRequest
) -> None:
    moto_lacks(backend, request, "ConfirmSignUp accepts any code, and a confirmed user again")
    pending = new_name()
    await backend.provider.register(pending, STRONG_PASSWORD, f"{pending}@example.org")
    with pytest.raises(InvalidInput) as wrong_code:
        await backend.provider.confirm_registration(pending, "000000x")
    with pytest.raises(InvalidInput) as unknown:
        await backend.provider.confirm_registration(new_name("ghost"), "000000x")
    confirmed = await signed_up(backend)
    with pytest.raises(InvalidInput) as already:
        await backend.provider.confirm_registration(confirmed, backend.confirmation_code(confirmed))
    assert wrong_code.value.message == unknown.value.message == already.value.message
