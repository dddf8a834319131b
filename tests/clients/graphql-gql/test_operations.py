"""Every operation the suite runs is valid against the checked-in schema.graphql, so an operation
that the schema no longer supports fails here, by name, before any request."""

import urllib.request

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from conftest import OPERATIONS, SCHEMA_FILE, operation_files


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(SCHEMA_FILE.read_text())


def test_there_are_operations():
    assert {
        "CreateCaptchaStage",
        "CaptchaStage",
        "CaptchaStages",
        "UpdateCaptchaStage",
        "ReplaceCaptchaStage",
        "DeleteCaptchaStage",
        "FlowStages",
        "UsedBy",
    } <= set(OPERATIONS)


@pytest.mark.parametrize("path", operation_files(), ids=lambda p: p.name)
def test_operation_is_valid_against_schema(schema, path):
    document = parse(path.read_text())
    errors = validate(schema, document)
    assert errors == [], [error.message for error in errors]
    # One operation per file, named like the file: the suite runs it by that name.
    names = [d.name.value for d in document.definitions if d.name is not None]
    assert names == [path.stem]


def test_validation_catches_a_stale_operation(schema):
    stale = parse("query Stale($id: UUID!) { captchaStage(id: $id) { id privateKey } }")
    messages = [error.message for error in validate(schema, stale)]
    assert messages == ["Cannot query field 'privateKey' on type 'CaptchaStage'."]


def test_served_sdl_is_the_checked_in_schema(service):
    with urllib.request.urlopen(f"{service.base_url}/graphql/schema.graphql") as response:
        assert response.status == 200
        served = response.read().decode()
    assert served == SCHEMA_FILE.read_text()
