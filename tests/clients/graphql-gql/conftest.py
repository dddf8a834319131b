"""Starts the real stages-api binary on a free port and a fresh SQLite file, and gives the tests
gql clients that run the operations in operations/*.graphql, typed by the checked-in schema."""

import os
import secrets
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport

SUITE = Path(__file__).resolve().parent
REPO = SUITE.parents[2]
SCHEMA_FILE = REPO / "schema.graphql"
OPERATIONS_DIR = SUITE / "operations"
BINARY = Path(os.environ.get("STAGES_API_BIN", REPO / "target" / "debug" / "stages-api"))
VIEW = "authentik_stages_captcha.view_captchastage"


def operation_files():
    return sorted(OPERATIONS_DIR.glob("*.graphql"))


OPERATIONS = {path.stem: path.read_text() for path in operation_files()}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    def __init__(self, base_url, database_url, token):
        self.base_url = base_url
        self.database_url = database_url
        self.token = token

    def create_token(self, name, *permissions):
        """`stages-api token create`, which prints the token alone on stdout."""
        args = [str(BINARY), "token", "create", "--name", name]
        for permission in permissions:
            args += ["--permission", permission]
        env = {**os.environ, "DATABASE_URL": self.database_url}
        out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
        lines = out.splitlines()
        assert len(lines) == 1, "token create prints the token alone on one line"
        return lines[0].strip()


@pytest.fixture(scope="session")
def service():
    assert BINARY.exists(), f"{BINARY} is missing: run `cargo build` first"
    tmp = tempfile.TemporaryDirectory(prefix="stages-gql-")
    port = free_port()
    database_url = f"sqlite://{tmp.name}/stages.db?mode=rwc"
    token = secrets.token_urlsafe(32)
    log = open(Path(tmp.name) / "server.log", "w")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LISTEN_ADDR": f"127.0.0.1:{port}",
        "BOOTSTRAP_TOKEN": token,
        "RUST_LOG": "warn",
    }
    process = subprocess.Popen([str(BINARY), "serve"], env=env, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        # Up to about 30 s for the binary to migrate and listen.
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"stages-api exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"{base_url}/-/health/ready/", timeout=1) as res:
                    if res.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("stages-api did not become ready")
        yield Service(base_url, database_url, token)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        tmp.cleanup()


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
