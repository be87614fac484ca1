"""Holds an answer of the API to its OpenAPI document: the status is one the operation declares,
and an error's code is one that status of that operation lists (x-error-codes).

tests/conftest.py's Api checks every in-process call of the suite with it; the schemathesis run
(tests/test_openapi_fuzz.py) checks every fuzzed call against the live server with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern
    spec: dict


class Contract:
    def __init__(self, document: dict):
        self.operations: list[Operation] = []
        for template, path_item in document["paths"].items():
            literal_parts = re.split(r"\{[^}]+\}", template)
            pattern = re.compile("^" + "[^/]+".join(re.escape(part) for part in literal_parts) + "$")
            for method, spec in path_item.items():
                self.operations.append(Operation(method.upper(), template, pattern, spec))
        # Literal paths first, so /decks/{id}/questions/order is not taken for .../{question_id}.
        self.operations.sort(key=lambda operation: operation.template.count("{"))

    def find(self, method: str, path: str) -> Operation | None:
        for operation in self.operations:
            if operation.method == method.upper() and operation.pattern.match(path):
                return operation
        return None

    def paths_matching(self, path: str) -> list[Operation]:
        return [operation for operation in self.operations if operation.pattern.match(path)]

    def violations(self, method: str, path: str, status: int, content_type: str, body: bytes) -> list[str]:
        """What is wrong with this answer, by the document; empty when nothing is."""
        if not path.startswith("/api/") or path in {"/api/openapi.json", "/api/docs"}:
            return []
        problems = []
        is_json = content_type.startswith("application/json")
        error_code = None
        if status >= 400:
            if not is_json:
                return [f"{method} {path} answered {status} with {content_type!r}, not the JSON error body"]
            error = json.loads(body).get("error")
            if not isinstance(error, dict) or not {"code", "message", "field"} <= set(error):
                return [f"{method} {path} answered {status} without the error body: {body[:300]!r}"]
            error_code = error["code"]
        operation = self.find(method, path)
        if operation is None:
            known_path = bool(self.paths_matching(path))
            expected = (405, "method_not_allowed") if known_path else (404, "not_found")
            if (status, error_code) != expected:
                problems.append(f"{method} {path} (no such operation) answered {status} {error_code}")
            return problems
        responses = {str(key): value for key, value in operation.spec["responses"].items()}
        declared = responses.get(str(status))
        if declared is None:
            problems.append(
                f"{method} {operation.template} answered {status}, which it does not declare "
                f"({', '.join(sorted(responses))})"
            )
        elif error_code is not None and error_code not in declared.get("x-error-codes", []):
            problems.append(
                f"{method} {operation.template} answered {status} {error_code!r}, not among its "
                f"declared codes {declared.get('x-error-codes')}"
            )
        return problems


_in_process: Contract | None = None


def in_process_contract() -> Contract:
    """The contract of the API this process serves (the document is built once)."""
    global _in_process
    if _in_process is None:
        from peardeck.api import api

        _in_process = Contract(
            json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/"), default=str))
        )
    return _in_process
