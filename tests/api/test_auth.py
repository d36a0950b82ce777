"""Auth: PATs, the session cookie, PAT management, the plan gate."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.context import AppContext
from api.security import SESSION_COOKIE
from tests.helpers import Account, assert_error, make_account


def login(client: TestClient, email: str, password: str) -> str:
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    cookie = response.cookies.get(SESSION_COOKIE)
    assert cookie
    return cookie


def test_login_sets_signed_httponly_cookie_and_returns_user(
    client: TestClient, alice: Account
) -> None:
    response = client.post(
        "/api/auth/login", json={"email": "ALICE@Example.com", "password": alice.password}
    )
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "user": {"id": alice.id, "email": "alice@example.com", "name": "Alice", "plan": "pro"},
    }
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in set_cookie
    assert "SameSite=lax" in set_cookie
    assert "Secure" in set_cookie  # loopback counts as a secure context


def test_session_cookie_authenticates_and_logout_clears_it(
    client: TestClient, alice: Account
) -> None:
    cookie = login(client, alice.email, alice.password)
    client.cookies.clear()
    me = client.get("/api/auth/me", cookies={SESSION_COOKIE: cookie})
    assert me.json()["user"]["email"] == alice.email
    out = client.post("/api/auth/logout")
    assert out.json() == {"success": True}
    assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
    assert "Max-Age=0" in out.headers["set-cookie"]


def test_tampered_session_cookie_is_refused(client: TestClient, alice: Account) -> None:
    cookie = login(client, alice.email, alice.password)
    client.cookies.clear()
    tampered = cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB")
    assert_error(client.get("/api/agents", cookies={SESSION_COOKIE: tampered}), 401)


def test_login_errors(client: TestClient, alice: Account) -> None:
    assert_error(client.post("/api/auth/login", json={"email": alice.email}), 400)
    assert_error(client.post("/api/auth/login", json={}), 400)
    assert_error(client.post("/api/auth/login", content=b"{nope"), 400)
    assert_error(
        client.post("/api/auth/login", json={"email": alice.email, "password": "wrong pass"}),
        401,
    )
    assert_error(
        client.post("/api/auth/login", json={"email": "who@example.com", "password": "x"}), 401
    )


def test_profile_update_reissues_cookie(client: TestClient, alice: Account) -> None:
    cookie = login(client, alice.email, alice.password)
    client.cookies.clear()
    response = client.patch(
        "/api/auth/profile", json={"name": "  Ada  "}, cookies={SESSION_COOKIE: cookie}
    )
    assert response.status_code == 200
    assert response.json()["user"]["name"] == "Ada"
    assert response.cookies.get(SESSION_COOKIE)


def test_missing_and_invalid_tokens(client: TestClient) -> None:
    assert_error(client.get("/api/agents"), 401)
    assert_error(
        client.get("/api/agents", headers={"Authorization": "Bearer nope"}), 401, code="invalid_key"
    )
    unknown = "bk_pat_" + "0" * 32
    assert_error(
        client.get("/api/agents", headers={"Authorization": f"Bearer {unknown}"}),
        401,
        code="invalid_key",
    )
    assert_error(
        client.get("/api/agents", headers={"Authorization": "Basic abc"}), 401, code="invalid_key"
    )


def test_pat_mint_list_revoke(client: TestClient, alice: Account) -> None:
    cookie = {SESSION_COOKIE: login(client, alice.email, alice.password)}
    client.cookies.clear()
    minted = client.post("/api/keys", json={"name": "ci"}, cookies=cookie)
    assert minted.status_code == 200, minted.text
    token = minted.json()["token"]
    assert token.startswith("bk_pat_") and len(token) == 7 + 32
    key_id = minted.json()["key"]["id"]

    listed = client.get("/api/keys", headers={"Authorization": f"Bearer {token}"}).json()["keys"]
    assert {k["name"] for k in listed} == {"tests", "ci"}
    assert all(token not in str(k) for k in listed)

    # PATs cannot mint or revoke PATs: that is UI-only.
    assert_error(client.post("/api/keys", json={}, headers=alice.headers), 403)
    assert_error(client.delete(f"/api/keys/{key_id}", headers=alice.headers), 403)

    assert client.delete(f"/api/keys/{key_id}", cookies=cookie).json() == {"success": True}
    assert_error(
        client.get("/api/agents", headers={"Authorization": f"Bearer {token}"}),
        401,
        code="invalid_key",
    )
    assert client.get("/api/agents", headers=alice.headers).status_code == 200


def test_pat_stored_only_as_sha256(context: AppContext, alice: Account) -> None:
    from sqlmodel import select

    from api.db.models import PersonalAccessToken
    from api.security import sha256_hex

    with context.db.unit() as session:
        rows = session.exec(select(PersonalAccessToken)).all()
    assert [r.token_hash for r in rows] == [sha256_hex(alice.token)]
    assert all(alice.token not in str(r.model_dump()) for r in rows)


def test_revoking_another_users_key_is_forbidden(
    client: TestClient, alice: Account, bob: Account
) -> None:
    cookie = {SESSION_COOKIE: login(client, alice.email, alice.password)}
    client.cookies.clear()
    key_id = client.post("/api/keys", json={}, cookies=cookie).json()["key"]["id"]
    bob_cookie = {SESSION_COOKIE: login(client, bob.email, bob.password)}
    client.cookies.clear()
    assert_error(client.delete(f"/api/keys/{key_id}", cookies=bob_cookie), 403)
    assert_error(client.delete("/api/keys/doesnotexist", cookies=bob_cookie), 404)


def test_plan_gate_off_by_default(client: TestClient, context: AppContext) -> None:
    free = make_account(context, "free@example.com", plan="free")
    cookie = {SESSION_COOKIE: login(client, free.email, free.password)}
    client.cookies.clear()
    assert client.post("/api/keys", json={}, cookies=cookie).status_code == 200
    assert client.get("/api/agents", headers=free.headers).status_code == 200


def test_plan_gate_when_enforced(client: TestClient, context: AppContext) -> None:
    context.settings.enforce_plans = True
    free = make_account(context, "free@example.com", plan="free")
    cookie = {SESSION_COOKIE: login(client, free.email, free.password)}
    client.cookies.clear()
    body = assert_error(
        client.post("/api/keys", json={}, cookies=cookie), 403, code="plan_upgrade_required"
    )
    assert body["error"] == "Upgrade to Pro to enable API access"
    assert body["upgradeUrl"].endswith("/dashboard/billing")
    # A PAT a Free account still holds (minted before a downgrade) answers plan_downgraded.
    assert_error(client.get("/api/agents", headers=free.headers), 401, code="plan_downgraded")
    pro = make_account(context, "pro@example.com", plan="pro")
    assert client.get("/api/agents", headers=pro.headers).status_code == 200
