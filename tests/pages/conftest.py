"""Real Chromium (Debian's) driven by Playwright against a real gunicorn serving the pages."""

import os
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.browser import browser  # noqa: F401 - a fixture, used by name
from tests.support.classroom import api_client, open_class, sign_up_teacher
from tests.support.server import ROOT, fresh_postgres_database, running_server

SCREENSHOTS = ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pages")
    env = {"PEARDECK_VAR_DIR": str(tmp), "DEBUG": "false"}
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = fresh_postgres_database(os.environ["DATABASE_URL"], "pages_browser")
    else:
        env["SQLITE_PATH"] = str(tmp / "pages.sqlite3")
    with running_server(env, log_path=tmp / "gunicorn.log") as base:
        yield base


@pytest.fixture
def teacher_account(server):
    return sign_up_teacher(server)


def page_errors(page) -> list[str]:
    """Collects uncaught JavaScript errors of a page, and whatever its Content-Security-Policy
    refused, to assert there were none."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
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
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/teach/")


class Classroom:
    """A class opened through the one test world (tests/support/classroom.py) and not started,
    with the steps the page tests take around it: the teacher's actions and students' answers
    over the API, and the pages' addresses."""

    def __init__(self, server: str, account, title: str, questions: list[dict], pacing: str = "instructor"):
        self.server = server
        self.account = account
        self.api = account.client(server)
        self.live = open_class(
            server, teacher=account, title=title, questions=questions, pacing=pacing, start=False
        )
        self.deck, self.questions = self.live.deck, self.live.questions
        self.id, self.code = self.live.session_id, self.live.join_code
        self.projector_key = self.live.session["projector_key"]

    @staticmethod
    def ok(response: httpx.Response) -> dict:
        assert response.status_code in (200, 201), f"{response.request.url}: {response.text}"
        return response.json()

    def teacher(self, action: str, **body) -> dict:
        return self.ok(self.api.post(f"/sessions/{self.id}/{action}", json=body or None))

    def join(self, name: str) -> str:
        with api_client(self.server) as http:
            self.live.joined[name] = self.ok(
                http.post("/join", json={"join_code": self.code, "display_name": name})
            )
        return self.live.token(name)

    def answer(self, name: str, question: dict, answer: dict) -> None:
        body = {"question_id": question["id"], "submission_id": uuid.uuid4().hex, "answer": answer}
        with api_client(self.server) as http:
            self.ok(
                http.post(
                    "/student/responses",
                    json=body,
                    headers={"Authorization": f"Bearer {self.live.token(name)}"},
                )
            )

    def projector_url(self) -> str:
        return f"{self.server}/projector/{self.code}/#key={self.projector_key}"

    def dashboard_url(self) -> str:
        return f"{self.server}/teach/sessions/{self.id}/"

    def student_in(self, context, name: str):
        """A page of `context` already joined as `name` (the join page keeps the token in the tab)."""
        token = self.live.token(name) if name in self.live.joined else self.join(name)
        page = context.new_page()
        page.goto(f"{self.server}/")
        page.evaluate(
            "([token, code, name]) => sessionStorage.setItem('peardeck.student',"
            " JSON.stringify({token, code, name, firebase: null}))",
            [token, self.code, name],
        )
        page.goto(f"{self.server}/s/")
        return page
