"""The API's contract in the OpenAPI document: the errors each operation may answer, the ids it takes.

An endpoint declares the error codes its own work may raise (`openapi_extra=errors(...)`); the
codes every operation of its sort may answer are added here, from what the document already says
of it: a security requirement can answer 401, a browser login on a write 403 csrf_failed, a body
400/413/422, query parameters 422. Each error status is then documented once, with the one
`Error` schema and the codes it may carry (`x-error-codes`), and the API's description gets the
table of every code, generated from web/errors.ERROR_CODES. The tests hold the server to it: every
in-process API call in the suite (tests/conftest.py) and schemathesis against a live server check
that each error status and code an operation answers is one it declares.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.errors import DomainError
from web.errors import ERROR_CODES, Error

# Ids are PostgreSQL bigints; a larger number could only fail deep in the database.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID, description="an id, as the API gave it")]


class Document(BaseModel):
    """A document the API answers with. Extra keys are refused, so a field added to a document
    without its schema fails the tests at once instead of silently vanishing from the answer, and
    the document says `additionalProperties: false`, so a generated client types every field.

    A plain pydantic model, not a ninja Schema: ninja checks every answer against its schema, and
    a Schema's attribute-reading wrapper made that ~8 times slower on the documents polled most."""

    model_config = ConfigDict(extra="forbid")


class Input(BaseModel):
    """A request body. No string in it may hold a NUL character: PostgreSQL stores none in text or
    jsonb, so one would fail deep in the database; it is refused here, naming the field. (A plain
    pydantic model, as Document is: a ninja Schema would hand the check a wrapper, not the data.)"""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data):
        where = _nul_in(data, "")
        if where is not None:
            field = where or "body"
            raise DomainError("invalid", f"{field}: must not contain NUL characters", field=field)
        return data


def _nul_in(value, path: str) -> str | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        inner = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and "\x00" in key:
            return inner
        found = _nul_in(item, inner)
        if found is not None:
            return found
    return None


ERROR_SCHEMA_REF = "#/components/schemas/Error"
_BODY_CODES = ("malformed_json", "payload_too_large", "invalid")
_WRITE_METHODS = {"post", "put", "patch", "delete"}
# The scheme name of a browser login (ninja names it after django_auth's class).
LOGIN_SCHEME = "TeacherLogin"
STUDENT_SCHEME = "StudentToken"


# Models of request bodies an endpoint reads itself, to be added to the document's components.
_READ_BY_HAND: dict[str, type] = {}


def body_read_by_hand(model: type) -> dict:
    """`openapi_extra` documenting the JSON body of an endpoint that reads request.body itself
    (to count what it refuses), with `model`'s schema."""
    _READ_BY_HAND[model.__name__] = model
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"content": {"application/json": {"schema": schema}}, "required": True}}


def errors(*codes: str) -> dict:
    """`openapi_extra` for an endpoint whose own work may refuse with these codes."""
    unknown = [code for code in codes if code not in ERROR_CODES]
    if unknown:
        raise ValueError(f"not in web.errors.ERROR_CODES: {', '.join(unknown)}")
    return {"x-error-codes": list(codes)}


def implied_codes(method: str, operation: dict) -> list[str]:
    """The codes an operation may answer by its sort alone, read from its OpenAPI description."""
    codes = []
    security = operation.get("security") or []
    if security:
        codes.append("not_authenticated")
        if any(STUDENT_SCHEME in requirement for requirement in security):
            codes.append("rate_limited")  # the student's request budget (sessions/auth.py)
        if method in _WRITE_METHODS and any(LOGIN_SCHEME in requirement for requirement in security):
            codes.append("csrf_failed")
    if "requestBody" in operation:
        codes.extend(_BODY_CODES)
    if any(parameter["in"] in {"query", "path"} for parameter in operation.get("parameters", [])):
        codes.append("invalid")
    return codes


def _error_response(codes: list[str]) -> dict:
    lines = "\n".join(f"- `{code}`: {ERROR_CODES[code].meaning}" for code in codes)
    return {
        "description": f"Refused; `error.code` is one of:\n\n{lines}",
        "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
        "x-error-codes": codes,
    }


def error_table() -> str:
    """Every error code with its status and meaning, as a Markdown table (the README has a copy
    that a test compares with this)."""
    rows = [
        f"| `{code}` | {entry.status} | {entry.meaning} |"
        for code, entry in sorted(ERROR_CODES.items(), key=lambda item: (item[1].status, item[0]))
    ]
    return "\n".join(["| code | status | meaning |", "|---|---|---|", *rows])


def _add_schema(schemas: dict, model: type) -> None:
    definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(definition.pop("$defs", {}))
    schemas[model.__name__] = definition


def complete(schema: dict) -> dict:
    """Adds the Error schema, every operation's error responses and the bodies read by hand to
    ninja's OpenAPI document."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    _add_schema(schemas, Error)
    for model in _READ_BY_HAND.values():
        _add_schema(schemas, model)
    for path_item in schema["paths"].values():
        for method, operation in path_item.items():
            declared = operation.pop("x-error-codes", [])
            codes = list(dict.fromkeys([*implied_codes(method, operation), *declared]))
            by_status: dict[int, list[str]] = {}
            for code in codes:
                by_status.setdefault(ERROR_CODES[code].status, []).append(code)
            for status, status_codes in sorted(by_status.items()):
                operation["responses"][status] = _error_response(status_codes)
    return schema
