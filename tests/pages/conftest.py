"""Real Chromium (Debian's) driven by Playwright against a real gunicorn serving the pages."""

import os
from pathlib import Path

import pytest

from tests.support.browser import browser  # noqa: F401 - a fixture, used by name
from tests.support.classroom import sign_up_teacher
from tests.support.server import ROOT, fresh_postgres_database, running_server

SCREENSHOTS = ROOT / "artifacts" / "screenshots"


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
