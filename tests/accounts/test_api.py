from accounts.models import ApiToken
from tests.conftest import Api, error_of


def test_a_teacher_signs_up_and_uses_the_token_they_get(db):
    created = Api().post("/api/auth/signup", {"username": "valerie", "password": "frizzle-rocks-2024"})
    assert created.status_code == 201
    token = created.json()["api_token"]["token"]
    assert token.startswith("pdt_")
    assert Api(token).get("/api/auth/me").json() == created.json()["teacher"]


def test_signing_up_names_the_teacher_and_the_token_apart(db):
    created = Api().post("/api/auth/signup", {"username": "valerie", "password": "frizzle-rocks-2024"}).json()
    assert created["teacher"]["username"] == "valerie"
    assert "id" not in created
    token = ApiToken.objects.get()
    assert created["api_token"]["id"] == token.pk
    assert created["teacher"]["id"] == token.user_id


def test_only_the_hash_of_a_token_is_stored(db):
    token = (
        Api()
        .post("/api/auth/signup", {"username": "valerie", "password": "frizzle-rocks-2024"})
        .json()["api_token"]["token"]
    )
    stored = ApiToken.objects.get()
    assert token not in stored.token_hash
    assert len(stored.token_hash) == 64


def test_a_weak_password_or_a_taken_username_is_refused(teacher):
    weak = Api().post("/api/auth/signup", {"username": "new", "password": "123"})
    assert weak.status_code == 422
    assert error_of(weak)["field"] == "password"
    taken = Api().post("/api/auth/signup", {"username": "MS-FRIZZLE", "password": "frizzle-rocks-2024"})
    assert taken.status_code == 409
    assert error_of(taken)["field"] == "username"


def test_a_password_buys_a_token_and_a_wrong_one_does_not(teacher):
    good = Api().post(
        "/api/auth/tokens", {"username": "ms-frizzle", "password": "magic-school-bus-42", "name": "laptop"}
    )
    assert good.status_code == 201
    bad = Api().post("/api/auth/tokens", {"username": "ms-frizzle", "password": "wrong"})
    assert bad.status_code == 401
    assert error_of(bad)["code"] == "bad_credentials"


def test_password_guessing_is_rate_limited(teacher, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": (3, 60)}
    statuses = [
        Api().post("/api/auth/tokens", {"username": "ms-frizzle", "password": f"guess{n}"}).status_code
        for n in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]


def test_a_revoked_token_stops_working(teacher_api):
    tokens = teacher_api.get("/api/auth/tokens").json()
    assert teacher_api.delete(f"/api/auth/tokens/{tokens[0]['id']}").status_code == 204
    assert teacher_api.get("/api/auth/me").status_code == 401


def test_a_teacher_logged_in_through_the_browser_can_use_the_api(teacher, client):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    logged_in = client.post("/accounts/login/", {"username": "ms-frizzle", "password": "magic-school-bus-42"})
    assert logged_in.status_code == 302
    assert client.get("/api/auth/me").json()["username"] == "ms-frizzle"
