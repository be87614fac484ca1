"""The OpenAPI document as a client developer reads it: every operation typed, named and with its
errors; the kinds' schemas are the ones the server validates with; the error-code table is the
code's own."""

import ast
import json
import re
from pathlib import Path

import pytest
from django.test import Client
from ninja.schema import NinjaGenerateJsonSchema

from sessions import kinds
from tests.support.contract import Contract
from web.contract import error_table
from web.errors import ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
APP_PACKAGES = [
    "accounts",
    "domain",
    "integrations",
    "live",
    "mirror",
    "peardeck",
    "responses",
    "runtime",
    "sessions",
    "web",
]


@pytest.fixture(scope="module")
def document():
    return json.loads(Client().get("/api/openapi.json").content)


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_every_operation_has_a_readable_pinned_id(document):
    ids = [operation["operationId"] for _method, _path, operation in operations(document)]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        # Module-based defaults looked like live_api_join; a pinned id is a short verb phrase.
        assert re.fullmatch(r"[a-z]+(_[a-z0-9]+)*", operation_id), operation_id
        assert not operation_id.startswith(tuple(f"{package}_" for package in APP_PACKAGES)), operation_id


def test_every_success_body_is_a_named_schema(document):
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if not 200 <= int(status) < 300 or "content" not in response:
                continue
            for media, content in response["content"].items():
                schema = content["schema"]
                if media == "text/csv":
                    continue
                named = "$ref" in schema or "oneOf" in schema or schema.get("type") == "array"
                assert named, f"{method} {path} {status}: {schema}"
                assert schema.get("type") != "object" or "properties" in schema, f"{method} {path}"


def test_every_error_status_uses_the_one_error_schema_and_lists_its_codes(document):
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            codes = response["x-error-codes"]
            assert codes, f"{method} {path} {status}"
            assert all(ERROR_CODES[code].status == int(status) for code in codes), (method, path, status)
        if operation.get("security"):
            assert "401" in operation["responses"], f"{method} {path}"
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(operation["responses"]), f"{method} {path}"


def test_the_error_schema_always_has_a_field(document):
    detail = document["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message", "field"} <= set(detail["required"])


def test_each_kind_is_documented_by_the_model_the_server_validates_with(document):
    schemas = document["components"]["schemas"]
    for model in [*kinds.CONFIGS.values(), *kinds.PUBLIC_CONFIGS.values(), *kinds.ANSWERS.values()]:
        expected = model.model_json_schema(
            ref_template="#/components/schemas/{model}", schema_generator=NinjaGenerateJsonSchema
        )
        expected.pop("$defs", None)
        assert schemas[model.__name__] == expected, model.__name__
    new_question = document["paths"]["/api/decks/{deck_id}/questions"]["post"]["requestBody"]
    body = new_question["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "kind"
    assert set(body["discriminator"]["mapping"]) == set(kinds.KINDS)
    for kind, ref in body["discriminator"]["mapping"].items():
        variant = schemas[ref.rsplit("/", 1)[1]]
        assert variant["properties"]["config"]["allOf"][0]["$ref"].endswith(kinds.CONFIGS[kind].__name__)
    answer = schemas["AnswerIn"]["properties"]["answer"]
    assert {item["$ref"].rsplit("/", 1)[1] for item in answer["anyOf"]} == {
        model.__name__ for model in kinds.ANSWERS.values()
    }


def test_students_are_never_documented_a_correct_answer(document):
    schemas = document["components"]["schemas"]
    public = schemas["StudentState"]["properties"]["question"]["anyOf"][0]["discriminator"]["mapping"]
    config = schemas[public["multiple_choice"].rsplit("/", 1)[1]]["properties"]["config"]["$ref"]
    assert "correct" not in schemas[config.rsplit("/", 1)[1]]["properties"]


def test_the_three_callers_have_schemes_of_their_own(document):
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"TeacherToken", "TeacherLogin", "StudentToken", "ProjectorKey"}
    assert all(scheme["description"] for scheme in schemes.values())
    by_operation = {
        operation["operationId"]: operation.get("security") for _m, _p, operation in operations(document)
    }
    assert by_operation["list_decks"] == [{"TeacherToken": []}, {"TeacherLogin": []}]
    assert by_operation["get_student_state"] == [{"StudentToken": []}]
    assert by_operation["get_projector_state"] == [{"ProjectorKey": []}]
    assert by_operation["join_session"] is None
    assert document["servers"]


def test_conditional_reads_document_etags_since_and_304(document):
    for path in ["/api/student/state", "/api/projector/state", "/api/sessions/{session_id}"]:
        operation = document["paths"][path]["get"]
        names = {(parameter["in"], parameter["name"]) for parameter in operation["parameters"]}
        assert {("header", "If-None-Match"), ("query", "since")} <= names, path
        assert "304" in operation["responses"], path


def test_submission_ids_are_documented_as_the_server_checks_them(document):
    from responses.services import SUBMISSION_ID

    documented = document["components"]["schemas"]["AnswerIn"]["properties"]["submission_id"]
    assert documented["maxLength"] == 64
    assert re.fullmatch(documented["pattern"], "a.b:c-d_1")
    for refused in ["has space", "é", "a/b"]:
        assert not re.search(documented["pattern"], refused)
        assert not SUBMISSION_ID.match(refused)


def test_pages_document_their_size_limit(document):
    for path in ["/api/decks", "/api/sessions", "/api/sessions/{session_id}/responses"]:
        parameters = {
            parameter["name"]: parameter for parameter in document["paths"][path]["get"]["parameters"]
        }
        assert parameters["limit"]["schema"]["maximum"] == 200, path
        assert "cursor" in parameters, path


# --- the error codes: one table, the code's own ----------------------------------------------------


def _codes_raised_in_the_code() -> set[str]:
    """Every code passed as the first argument of DomainError, ErrorResponse or error_response."""
    raisers = {"DomainError": 0, "ErrorResponse": 1, "error_response": 2, "error_body": 0, "_json_error": 1}
    codes = set()
    for package in APP_PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                position = raisers.get(name)
                if position is None or len(node.args) <= position:
                    continue
                argument = node.args[position]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    codes.add(argument.value)
    return codes


def test_every_code_the_server_raises_is_in_the_table():
    raised = _codes_raised_in_the_code()
    assert raised  # the scan finds the calls at all
    assert raised <= set(ERROR_CODES), raised - set(ERROR_CODES)


def test_the_readme_error_table_is_the_codes_own():
    readme = (ROOT / "README.md").read_text()
    assert error_table() in readme, "README.md: paste web.contract.error_table() into the API section"


def test_the_api_description_carries_the_error_table(document):
    assert error_table() in document["info"]["description"]


def test_the_contract_check_catches_an_undeclared_status_or_code(document):
    contract = Contract(document)
    error = json.dumps({"error": {"code": "name_taken", "message": "", "field": None}}).encode()
    assert contract.violations("POST", "/api/join", 409, "application/json", error) == []
    wrong_code = json.dumps({"error": {"code": "question_locked", "message": "", "field": None}}).encode()
    assert contract.violations("POST", "/api/join", 409, "application/json", wrong_code)
    assert contract.violations("GET", "/api/decks", 409, "application/json", error)
    assert contract.violations("GET", "/api/decks", 404, "text/html", b"<h1>Not Found</h1>")
