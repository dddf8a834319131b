"""Every operation the suite runs is valid against the checked-in schema.graphql, so an operation
that the schema no longer supports fails here, by name, before any request."""

import urllib.request

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport
from graphql import (
    GraphQLSchema,
    build_schema,
    lexicographic_sort_schema,
    parse,
    print_schema,
    validate,
)

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
        "Flow",
        "Flows",
        "CreateFlow",
        "UpdateFlow",
        "ReplaceFlow",
        "DeleteFlow",
        "FlowStageBinding",
        "FlowStageBindings",
        "CreateFlowStageBinding",
        "UpdateFlowStageBinding",
        "DeleteFlowStageBinding",
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
    # Stage is an interface: a CaptchaStage field needs `... on CaptchaStage`.
    bare = parse("query Bare($slug: String) { flow(slug: $slug) { stages { publicKey } } }")
    messages = [error.message for error in validate(schema, bare)]
    assert messages == ["Cannot query field 'publicKey' on type 'Stage'. Did you mean to use an inline fragment on 'CaptchaStage'?"]


def test_served_sdl_is_the_checked_in_schema(service):
    with urllib.request.urlopen(f"{service.base_url}/graphql/schema.graphql") as response:
        assert response.status == 200
        served = response.read().decode()
    assert served == SCHEMA_FILE.read_text()


# Also ask for each scalar's specifiedByURL (gql leaves it out by default): the SDL has
# `@specifiedBy` on UUID, and introspection must say the same.
INTROSPECTION_ARGS = {"specified_by_url": True}


def test_introspection_matches_checked_in_schema(service):
    """gql's own introspection query (an authenticated caller) passes the depth and complexity
    caps and describes the checked-in schema."""
    transport = RequestsHTTPTransport(
        url=f"{service.base_url}/graphql",
        headers={"Authorization": f"Bearer {service.token}"},
        timeout=30,
    )
    with Client(
        transport=transport,
        fetch_schema_from_transport=True,
        introspection_args=INTROSPECTION_ARGS,
    ) as session:
        introspected = session.client.schema
    checked_in = build_schema(SCHEMA_FILE.read_text())
    assert print_schema(lexicographic_sort_schema(introspected)) == print_schema(
        lexicographic_sort_schema(checked_in)
    )


def test_introspection_needs_no_token_but_operations_do(service):
    """The SDL is public (GET /graphql/schema.graphql), so introspection answers without a token,
    and gql can build its schema from it; every operation still needs one."""
    transport = RequestsHTTPTransport(url=f"{service.base_url}/graphql", timeout=30)
    with Client(
        transport=transport,
        fetch_schema_from_transport=True,
        introspection_args=INTROSPECTION_ARGS,
    ) as session:
        introspected = session.client.schema
        with pytest.raises(TransportQueryError) as info:
            session.execute(gql("{ captchaStages { pagination { count } } }"))
    checked_in = build_schema(SCHEMA_FILE.read_text())
    assert print_schema(lexicographic_sort_schema(introspected)) == print_schema(
        lexicographic_sort_schema(checked_in)
    )
    assert [e["extensions"]["code"] for e in info.value.errors] == ["UNAUTHENTICATED"]
