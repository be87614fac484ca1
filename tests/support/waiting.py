"""Waiting for something outside the test's own thread to happen: a server, a worker, a stand-in."""

import time
from collections.abc import Callable
from typing import Any


def wait_until(
    condition: Callable[[], Any],
    *,
    timeout: float = 10.0,
    what: str = "the condition",
    interval: float = 0.05,
) -> Any:
    """Calls `condition()` until it returns something true and returns that; fails naming `what`
    after `timeout` seconds. It sleeps between calls, so a Playwright page's own callbacks (route
    handlers) do not run meanwhile: wait on the page for those."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
