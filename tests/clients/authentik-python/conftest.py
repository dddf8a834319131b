"""Fixtures: the real stages-api binary on a free port with a fresh SQLite file, and
authentik's generated Python client (authentik-client 2025.10.4, unchanged) pointed at it."""

import uuid

import pytest
from authentik_client import FlowsApi, StagesApi

from helpers import Server, make_api, make_flows_api
from stages_server import running_server


@pytest.fixture(scope="session")
def server():
    with running_server("stages-api-pytest-", server_class=Server) as server:
        yield server


@pytest.fixture(scope="session")
def api(server) -> StagesApi:
    return make_api(server, server.token)


@pytest.fixture(scope="session")
def flows(server) -> FlowsApi:
    """authentik's FlowsApi (flows_instances_*, flows_bindings_*) with the superuser token."""
    return make_flows_api(server, server.token)


@pytest.fixture
def tag() -> str:
    """A unique marker so each test can find exactly its own stages in the shared database."""
    return uuid.uuid4().hex[:12]
