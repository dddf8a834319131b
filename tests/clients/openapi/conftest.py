"""Fixtures: the real stages-api binary and the two OpenAPI documents.

run.sh starts one server for pytest and schemathesis and passes it in STAGES_API_URL,
STAGES_API_TOKEN and STAGES_API_DATABASE_URL; without them (plain `pytest`), the session starts
its own on a free port with a fresh SQLite file and stops it by PID.
"""

import os
import uuid
import sys
from pathlib import Path

import pytest
import requests
from openapi_core import OpenAPI

import documents

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stages_server import RunningServer, running_server  # noqa: E402

VIEW = "authentik_stages_captcha.view_captchastage"
ADD = "authentik_stages_captcha.add_captchastage"


class Server(RunningServer):
    @property
    def api(self) -> str:
        return f"{self.base_url}/api/v3"

    def session(self, token: str | None = None) -> requests.Session:
        session = requests.Session()
        if token is not None:
            session.headers["Authorization"] = f"Bearer {token}"
        return session


@pytest.fixture(scope="session")
def server():
    if os.environ.get("STAGES_API_URL"):
        yield Server(
            os.environ["STAGES_API_URL"],
            os.environ["STAGES_API_DATABASE_URL"],
            os.environ["STAGES_API_TOKEN"],
        )
        return
    with running_server("stages-api-openapi-", server_class=Server) as server:
        yield server


@pytest.fixture(scope="session")
def ours() -> dict:
    return documents.load_ours()


@pytest.fixture(scope="session")
def authentik() -> dict:
    return documents.load_authentik()


@pytest.fixture(scope="session")
def ours_spec(ours) -> OpenAPI:
    return OpenAPI.from_dict(ours)


@pytest.fixture(scope="session")
def authentik_spec(authentik) -> OpenAPI:
    return OpenAPI.from_dict(authentik)


@pytest.fixture
def tag() -> str:
    """A unique marker so each test finds exactly its own stages in the shared database."""
    return uuid.uuid4().hex[:12]
