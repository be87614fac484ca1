"""Schemathesis checks of our own, loaded by tests/test_openapi_fuzz.py's run (`hooks` in its
configuration): an error answer carries the JSON error body, with a code its operation declares
for that status (x-error-codes), which schemathesis' schema conformance cannot see on its own."""

import json

import schemathesis


@schemathesis.check
def declared_error_codes(ctx, response, case):
    status = response.status_code
    if status < 400:
        return None
    declared = case.operation.definition.raw.get("responses", {}).get(str(status))
    if declared is None:
        return None  # status_code_conformance reports an undeclared status
    if not response.headers.get("content-type", [""])[0].startswith("application/json"):
        raise AssertionError(f"{status} is not the JSON error body: {response.content[:200]!r}")
    error = json.loads(response.content).get("error") or {}
    if not {"code", "message", "field"} <= set(error):
        raise AssertionError(f"{status} without the error body's code, message and field: {error}")
    codes = declared.get("x-error-codes", [])
    if error["code"] not in codes:
        raise AssertionError(f"{status} {error['code']!r} is not among the declared codes {codes}")
    return None
