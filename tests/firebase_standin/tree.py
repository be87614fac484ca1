"""The data model of one Realtime Database namespace: a JSON tree, kept normalized.

A normalized value is None, a bool, an int or float, a str, or a non-empty dict whose keys are
valid Firebase keys and whose values are normalized and never None. Arrays never appear inside
the tree: Firebase stores them as objects keyed "0", "1", ... and only renders them back as
arrays on the way out (see ``render``).

Writes never mutate a dict that is already in the tree: each write copies the dicts along its
path, so an old root stays a consistent snapshot (used for listener events and ETags).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import re
import secrets
import threading
import time
from typing import Any

Path = tuple[str, ...]

FORBIDDEN_KEY_CHARS = re.compile(r"[.$#\[\]/\x00-\x1f\x7f]")
MAX_KEY_BYTES = 768
# Firebase orders keys that parse as 32-bit integers numerically, before every other key.
INT_KEY = re.compile(r"^(0|-?[1-9][0-9]*)$")


class DataError(ValueError):
    """A request whose data or path Firebase would reject with 400 Bad Request."""


# --- paths -----------------------------------------------------------------------------------


def parse_path(text: str) -> Path:
    """'/a/b/' -> ('a', 'b'); empty segments are ignored like Firebase does for URL paths."""
    segments = tuple(part for part in text.split("/") if part)
    for segment in segments:
        validate_key(segment)
    return segments


def path_text(path: Path) -> str:
    return "/" + "/".join(path)


def is_prefix(prefix: Path, path: Path) -> bool:
    return path[: len(prefix)] == prefix


def validate_key(key: str) -> None:
    if not key:
        raise DataError("Invalid key: keys must be non-empty strings")
    if FORBIDDEN_KEY_CHARS.search(key):
        raise DataError(f'Invalid key "{key}": keys cannot contain ".", "$", "#", "[", "]", "/"')
    if len(key.encode()) > MAX_KEY_BYTES:
        raise DataError(f"Invalid key: longer than {MAX_KEY_BYTES} bytes")


# --- normalizing incoming JSON ------------------------------------------------------------------


def normalize(value: Any, current: Any = None, now_ms: int | None = None) -> Any:
    """Turns request JSON into a normalized tree value.

    ``current`` is the value already stored where ``value`` is going; it is only needed to
    resolve ``{".sv": {"increment": n}}``. Nulls and empty objects vanish, arrays become objects.
    """
    if now_ms is None:
        now_ms = int(time.time() * 1000)
    if isinstance(value, list):
        value = {str(index): item for index, item in enumerate(value)}
    if isinstance(value, dict):
        if ".sv" in value:
            return _server_value(value[".sv"], current, now_ms)
        if ".value" in value:
            # {".value": x, ".priority": p}: priorities are not modelled, the value is kept.
            return normalize(value[".value"], current, now_ms)
        result = {}
        for key, child in value.items():
            if key == ".priority":
                continue
            validate_key(key)
            child_current = current.get(key) if isinstance(current, dict) else None
            normalized = normalize(child, child_current, now_ms)
            if normalized is not None:
                result[key] = normalized
        return result or None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DataError("Invalid data: numbers must be finite")
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if value is None or isinstance(value, bool | int | str):
        return value
    raise DataError(f"Invalid data: unsupported JSON value {value!r}")


def _server_value(spec: Any, current: Any, now_ms: int) -> Any:
    if spec == "timestamp":
        return now_ms
    if isinstance(spec, dict) and set(spec) == {"increment"}:
        delta = spec["increment"]
        if isinstance(delta, bool) or not isinstance(delta, int | float):
            raise DataError("Invalid data: increment must be a number")
        base = current if isinstance(current, int | float) and not isinstance(current, bool) else 0
        return normalize(base + delta)
    raise DataError(f"Invalid data: unknown server value {spec!r}")


# --- reading ----------------------------------------------------------------------------------


def get(root: Any, path: Path) -> Any:
    node = root
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def render(value: Any) -> Any:
    """The JSON Firebase returns for a stored value: objects whose keys are mostly the integers
    0..n come back as arrays (missing indices as null), everything else as is."""
    if not isinstance(value, dict):
        return value
    rendered = {key: render(child) for key, child in value.items()}
    if all(key.isdigit() and (key == "0" or not key.startswith("0")) for key in rendered):
        highest = max(int(key) for key in rendered)
        if len(rendered) * 2 > highest + 1:
            return [rendered.get(str(index)) for index in range(highest + 1)]
    return rendered


def shallow(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: True for key in value}
    return value


def etag(value: Any) -> str:
    """A strong validator for the value at a location: equal values give equal ETags."""
    canonical = json.dumps(render(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(hashlib.sha1(canonical.encode(), usedforsecurity=False).digest()).decode()


# --- writing ----------------------------------------------------------------------------------


def set_at(root: Any, path: Path, value: Any) -> Any:
    """Returns a new root with ``value`` (normalized, may be None) stored at ``path``."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    node = root if isinstance(root, dict) else {}
    child = set_at(node.get(key), rest, value)
    copy = dict(node)
    if child is None:
        copy.pop(key, None)
    else:
        copy[key] = child
    return copy or None


def check_update_paths(paths: list[Path]) -> None:
    """Firebase refuses a multi-path update where one path is an ancestor of another."""
    ordered = sorted(paths)
    for first, second in itertools.pairwise(ordered):
        if is_prefix(first, second):
            raise DataError(
                f'Invalid data: path "{path_text(first)}" is an ancestor of "{path_text(second)}" '
                "in the same update"
            )


# --- queries ----------------------------------------------------------------------------------

_NULL, _FALSE, _TRUE, _NUMBER, _STRING, _OBJECT = range(6)


def key_sort_key(key: str) -> tuple:
    if INT_KEY.match(key) and -(2**31) <= int(key) < 2**31:
        return (0, int(key), "")
    return (1, 0, key)


def value_sort_key(value: Any) -> tuple:
    if value is None:
        return (_NULL, 0)
    if value is False:
        return (_FALSE, 0)
    if value is True:
        return (_TRUE, 0)
    if isinstance(value, int | float):
        return (_NUMBER, value)
    if isinstance(value, str):
        return (_STRING, value)
    return (_OBJECT, 0)


class Query:
    """The ordering and filtering query parameters of a REST GET."""

    FILTERS = ("startAt", "endAt", "equalTo", "limitToFirst", "limitToLast")

    def __init__(self, params: dict[str, str]):
        self.order_by = _json_param(params, "orderBy")
        present = [name for name in self.FILTERS if name in params]
        if present and self.order_by is None:
            raise DataError("orderBy must be defined when other query parameters are defined")
        if self.order_by is not None and not isinstance(self.order_by, str):
            raise DataError("orderBy must be a string")
        if "limitToFirst" in params and "limitToLast" in params:
            raise DataError("Cannot use both limitToFirst and limitToLast")
        self.start_at = _json_param(params, "startAt")
        self.end_at = _json_param(params, "endAt")
        self.equal_to = _json_param(params, "equalTo")
        self.has_start, self.has_end = "startAt" in params, "endAt" in params
        self.has_equal = "equalTo" in params
        self.limit_first = _int_param(params, "limitToFirst")
        self.limit_last = _int_param(params, "limitToLast")

    @property
    def active(self) -> bool:
        return self.order_by is not None

    def _index(self, key: str, value: Any) -> tuple:
        if self.order_by == "$key":
            return key_sort_key(key)
        if self.order_by == "$value":
            return value_sort_key(value)
        if self.order_by == "$priority":
            raise DataError("orderBy $priority is not supported by the stand-in")
        return value_sort_key(get(value, parse_path(self.order_by)))

    def _bound(self, bound: Any) -> tuple:
        if self.order_by == "$key":
            if not isinstance(bound, str):
                raise DataError("Query bounds must be strings when ordering by $key")
            return key_sort_key(bound)
        return value_sort_key(bound)

    def apply(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        entries = sorted(
            ((self._index(key, child), key_sort_key(key), key, child) for key, child in value.items()),
            key=lambda entry: (entry[0], entry[1]),
        )
        if self.has_equal:
            wanted = self._bound(self.equal_to)
            entries = [entry for entry in entries if entry[0] == wanted]
        if self.has_start:
            low = self._bound(self.start_at)
            entries = [entry for entry in entries if entry[0] >= low]
        if self.has_end:
            high = self._bound(self.end_at)
            entries = [entry for entry in entries if entry[0] <= high]
        if self.limit_first is not None:
            entries = entries[: self.limit_first]
        if self.limit_last is not None:
            entries = entries[-self.limit_last :] if self.limit_last else []
        return {key: child for _, _, key, child in entries} or None


def _json_param(params: dict[str, str], name: str) -> Any:
    if name not in params:
        return None
    try:
        return json.loads(params[name])
    except ValueError:
        raise DataError(f"{name} must be a valid JSON value") from None


def _int_param(params: dict[str, str], name: str) -> int | None:
    if name not in params:
        return None
    try:
        number = int(params[name])
    except ValueError:
        raise DataError(f"{name} must be a non-negative integer") from None
    if number < 0:
        raise DataError(f"{name} must be a non-negative integer")
    return number


# --- push ids ---------------------------------------------------------------------------------

PUSH_ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


class PushIds:
    """Chronologically ordered 20-character ids: 8 characters of milliseconds, then 12 random
    characters that are incremented (not redrawn) within one millisecond so ids stay ordered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._tail: list[int] = []

    def next(self, now_ms: int | None = None) -> str:
        with self._lock:
            ms = int(time.time() * 1000) if now_ms is None else now_ms
            ms = max(ms, self._last_ms)
            if ms == self._last_ms:
                for index in range(11, -1, -1):
                    if self._tail[index] < 63:
                        self._tail[index] += 1
                        break
                    self._tail[index] = 0
            else:
                self._tail = [secrets.randbelow(64) for _ in range(12)]
            self._last_ms = ms
            head = []
            for _ in range(8):
                head.append(PUSH_ALPHABET[ms % 64])
                ms //= 64
            return "".join(reversed(head)) + "".join(PUSH_ALPHABET[i] for i in self._tail)
