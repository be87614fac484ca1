"""What deploy/stage and deploy/unstage share: naming a preview, finding kubectl, running it.

Standard library only, so the scripts run from a bare checkout; kubectl does all the rendering
(`kubectl kustomize`), so no YAML library is needed here.
"""

import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parent
PREVIEW_OVERLAY = DEPLOY_DIR / "overlays" / "preview"
# A preview lives in peardeck-<NAME>; these names would land on the long-lived environments.
RESERVED_NAMES = {"staging", "production", "preview"}
# peardeck-<NAME> must be a DNS label (63 characters at most), and NAME also becomes a host name.
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$")

_print_lock = threading.Lock()


class StageError(Exception):
    """A step failed; the message says which and what to look at."""


def namespace_for(name: str) -> str:
    if not _NAME.match(name):
        raise StageError(
            f"preview name {name!r} must be lower-case letters, digits and '-', "
            "start and end with a letter or digit, 50 characters at most"
        )
    if name in RESERVED_NAMES:
        raise StageError(f"preview name {name!r} is reserved: peardeck-{name} is not a preview")
    return f"peardeck-{name}"


def kubectl_binary() -> str:
    return os.environ.get("KUBECTL", "kubectl")


def say(context: str | None, message: str) -> None:
    prefix = f"[{context}] " if context else ""
    with _print_lock:
        for line in message.rstrip("\n").splitlines() or [""]:
            print(f"{prefix}{line}", flush=True)


def kubectl(
    context: str | None, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    argv = [kubectl_binary()]
    if context:
        argv += ["--context", context]
    argv += list(args)
    try:
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError as exc:
        raise StageError(f"{argv[0]} not found: install kubectl or set KUBECTL") from exc
    if check and result.returncode != 0:
        raise StageError(f"`{' '.join(argv[:8])}` failed ({result.returncode}): {result.stderr.strip()}")
    return result


def on_each_context(contexts: list[str | None], action: Callable[[str | None], None]) -> int:
    """Runs action once per cluster context, all at once; returns the number that failed."""
    failures = []

    def run(context: str | None) -> None:
        try:
            action(context)
        except StageError as exc:
            say(context, f"FAILED: {exc}")
            failures.append(context)

    with ThreadPoolExecutor(max_workers=max(1, len(contexts))) as pool:
        list(pool.map(run, contexts))
    if failures and len(contexts) > 1:
        names = ", ".join(str(c) for c in failures)
        print(f"failed on {len(failures)} of {len(contexts)} contexts: {names}", file=sys.stderr)
    return len(failures)
