"""POST /api/locale: the dashboard language, kept in a cookie (and on a logged-in user)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.context import AppContext
from api.db.models import User
from api.security import SESSION_COOKIE
from tests.helpers import Account, assert_error


def test_locale_sets_a_cookie_and_is_remembered_for_a_logged_in_user(
    client: TestClient, context: AppContext, alice: Account
) -> None:
    for locale in ("zh-TW", "en"):
        response = client.post("/api/locale", json={"locale": locale})
        assert response.status_code == 200, response.text
        assert response.json() == {"success": True, "locale": locale}
        assert response.cookies.get("locale") == locale
        assert response.headers["set-cookie"].startswith(f"locale={locale};")

    for body in (
        {"locale": "fr"},
        {"locale": "zh-tw"},
        {"locale": "zh-TW\n"},
        {"locale": ""},
        {"locale": 1},
        {"locale": None},
        {},
        {"locale": "en", "theme": "dark"},
        ["en"],
        "en",
    ):
        response = client.post("/api/locale", json=body)
        assert response.status_code == 400, (body, response.text)
        assert_error(response, 400)
        assert "locale=" not in response.headers.get("set-cookie", "")
    assert_error(
        client.post("/api/locale", content=b"{", headers={"Content-Type": "application/json"}), 400
    )

    # No session needed for the cookie; with one, the choice is stored on the user too.
    login = client.post("/api/auth/login", json={"email": alice.email, "password": alice.password})
    assert login.status_code == 200, login.text
    session_cookie = login.cookies[SESSION_COOKIE]
    client.cookies.clear()

    response = client.post(
        "/api/locale", json={"locale": "zh-TW"}, cookies={SESSION_COOKIE: session_cookie}
    )
    assert response.status_code == 200, response.text
    with context.db.unit() as session:
        user = session.get(User, alice.id)
        assert user is not None and user.locale == "zh-TW"
