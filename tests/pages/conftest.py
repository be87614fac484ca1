"""Real Chromium (Debian's) driven by Playwright against a real gunicorn serving the pages."""

import os
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.browser import browser  # noqa: F401 - a fixture, used by name
from tests.support.server import ROOT, fresh_postgres_database, running_server

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "chalk-and-talk-2024"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pages")
    env = {"PEARDECK_VAR_DIR": str(tmp), "DEBUG": "false", "RATE_LIMIT_JOIN": "1000"}
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = fresh_postgres_database(os.environ["DATABASE_URL"], "pages_browser")
    else:
        env["SQLITE_PATH"] = str(tmp / "pages.sqlite3")
    with running_server(env, log_path=tmp / "gunicorn.log") as base:
        yield base


def sign_up_teacher(server: str) -> dict:
    """A new teacher account on `server`: its username, password and API token."""
    username = f"teacher-{uuid.uuid4().hex[:8]}"
    response = httpx.post(f"{server}/api/auth/signup", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return {"username": username, "password": PASSWORD, "token": response.json()["token"]}


@pytest.fixture
def teacher_account(server):
    return sign_up_teacher(server)


def page_errors(page) -> list[str]:
    """Collects uncaught JavaScript errors of a page, to assert there were none."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def watch_roster(page) -> None:
    """Records, in the page, the wall-clock time of every change to the dashboard's roster.

    A MutationObserver runs as soon as the DOM changes, so the record is not delayed by how often
    the test looks (animation frames are throttled in windows that are not in front)."""
    page.evaluate(
        """() => {
        window.__rosterLog = [];
        new MutationObserver(() => {
            const rows = [...document.querySelectorAll('.roster-row')].map((row) => [
                row.querySelector('.name').textContent, row.querySelector('.roster-answer').textContent]);
            window.__rosterLog.push({at: Date.now(), rows});
        }).observe(document.getElementById('roster'), {childList: true, subtree: true, characterData: true});
    }"""
    )


def seconds_until_roster_shows(
    page, name: str, text: str, since_ms: float, timeout_ms: int = 10_000
) -> float:
    """Waits until the roster shows `text` as `name`'s answer; returns when it first did, counted
    from `since_ms` (epoch milliseconds, the same clock as the page's Date.now())."""
    found = page.wait_for_function(
        """([name, text, since]) => {
            const hit = window.__rosterLog.find((entry) => entry.at >= since
                && entry.rows.some(([who, answer]) => who === name && answer.includes(text)));
            return hit ? hit.at : false;
        }""",
        arg=[name, text, since_ms],
        polling=50,
        timeout=timeout_ms,
    )
    return (found.json_value() - since_ms) / 1000


def log_in(page, server, account):
    page.goto(f"{server}/accounts/login/")
    page.get_by_label("Username").fill(account["username"])
    page.get_by_label("Password").fill(account["password"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/teach/")


class Classroom:
    """A deck, an open session and students answering over the API, for the pages to show."""

    def __init__(self, server: str, account: dict, title: str, questions: list[dict], **session):
        self.server = server
        self.account = account
        self.api = httpx.Client(
            base_url=f"{server}/api", headers={"Authorization": f"Bearer {account['token']}"}
        )
        self.deck = self.ok(self.api.post("/decks", json={"title": title}))
        self.questions = [
            self.ok(self.api.post(f"/decks/{self.deck['id']}/questions", json=question))
            for question in questions
        ]
        opened = self.ok(self.api.post("/sessions", json={"deck_id": self.deck["id"], **session}))
        self.id, self.code, self.projector_key = opened["id"], opened["join_code"], opened["projector_key"]
        self.students: dict[str, str] = {}

    @staticmethod
    def ok(response: httpx.Response) -> dict:
        assert response.status_code in (200, 201), f"{response.request.url}: {response.text}"
        return response.json()

    def teacher(self, action: str, **body) -> dict:
        return self.ok(self.api.post(f"/sessions/{self.id}/{action}", json=body or None))

    def join(self, name: str) -> str:
        joined = self.ok(
            httpx.post(f"{self.server}/api/join", json={"join_code": self.code, "display_name": name})
        )
        self.students[name] = joined["token"]
        return joined["token"]

    def answer(self, name: str, question: dict, answer: dict) -> None:
        self.ok(
            httpx.post(
                f"{self.server}/api/student/responses",
                headers={"Authorization": f"Bearer {self.students[name]}"},
                json={"question_id": question["id"], "submission_id": uuid.uuid4().hex, "answer": answer},
            )
        )

    def projector_url(self) -> str:
        return f"{self.server}/projector/{self.code}/#key={self.projector_key}"

    def dashboard_url(self) -> str:
        return f"{self.server}/teach/sessions/{self.id}/"

    def student_in(self, context, name: str):
        """A page of `context` already joined as `name` (the join page keeps the token in the tab)."""
        token = self.students.get(name) or self.join(name)
        page = context.new_page()
        page.goto(f"{self.server}/")
        page.evaluate(
            "([token, code, name]) => sessionStorage.setItem('peardeck.student',"
            " JSON.stringify({token, code, name, firebase: null}))",
            [token, self.code, name],
        )
        page.goto(f"{self.server}/s/")
        return page
