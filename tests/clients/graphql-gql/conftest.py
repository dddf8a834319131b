"""Starts the real stages-api binary on a free port and a fresh SQLite file, and gives the tests
gql clients that run the operations in operations/*.graphql, typed by the checked-in schema."""

import secrets
import sys
from pathlib import Path

import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport

SUITE = Path(__file__).resolve().parent
REPO = SUITE.parents[2]
SCHEMA_FILE = REPO / "schema.graphql"
OPERATIONS_DIR = SUITE / "operations"
VIEW = "authentik_stages_captcha.view_captchastage"


def operation_files():
    return sorted(OPERATIONS_DIR.glob("*.graphql"))


OPERATIONS = {path.stem: path.read_text() for path in operation_files()}


sys.path.insert(0, str(REPO / "tests" / "clients"))
from stages_server import running_server  # noqa: E402


@pytest.fixture(scope="session")
def service():
    with running_server("stages-gql-", RUST_LOG="warn") as server:
        yield server


class Api:
    """A gql client: every call runs a named operation from operations/ with variables, validated
    locally against schema.graphql before it is sent."""

    def __init__(self, url, authorization=None):
        headers = {"Authorization": authorization} if authorization is not None else {}
        transport = RequestsHTTPTransport(url=url, headers=headers, timeout=30)
        self.client = Client(
            transport=transport,
            schema=SCHEMA_FILE.read_text(),
            serialize_variables=True,
            parse_results=True,
        )

    def run(self, operation, **variables):
        # gql's variable serialization refuses an empty dict: no variables is None.
        request = GraphQLRequest(
            OPERATIONS[operation], variable_values=variables or None, operation_name=operation
        )
        return self.client.execute(request)

    def error(self, operation, **variables):
        """Runs an operation that must fail; returns (its single error, the response data)."""
        with pytest.raises(TransportQueryError) as info:
            self.run(operation, **variables)
        errors = info.value.errors
        assert errors is not None and len(errors) == 1, errors
        return errors[0], info.value.data


@pytest.fixture(scope="session")
def api(service):
    return Api(f"{service.base_url}/graphql", f"Bearer {service.token}")


@pytest.fixture(scope="session")
def make_api(service):
    def make(authorization=None):
        return Api(f"{service.base_url}/graphql", authorization)

    return make


@pytest.fixture
def tag():
    """A unique word for the names and slugs of one test: tests share one database."""
    return secrets.token_hex(4)
