"""Fixtures: the real stages-api binary and the two OpenAPI documents.

run.sh starts one server for pytest and schemathesis and passes it in STAGES_API_URL,
STAGES_API_TOKEN and STAGES_API_DATABASE_URL; without them (plain `pytest`), the session starts
its own on a free port with a fresh SQLite file and stops it by PID.
"""

import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from openapi_core import OpenAPI

import documents

BINARY = Path(os.environ.get("STAGES_API_BIN", documents.REPO_ROOT / "target" / "debug" / "stages-api"))

VIEW = "authentik_stages_captcha.view_captchastage"
ADD = "authentik_stages_captcha.add_captchastage"


@dataclass
class Server:
    base_url: str
    token: str
    database_url: str

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/v3"

    def session(self, token: str | None = None) -> requests.Session:
        session = requests.Session()
        if token is not None:
            session.headers["Authorization"] = f"Bearer {token}"
        return session

    def create_token(self, *permissions: str) -> str:
        """`stages-api token create`, which prints the token alone on stdout."""
        args = [str(BINARY), "token", "create", "--name", f"openapi-{uuid.uuid4().hex[:8]}"]
        for permission in permissions:
            args += ["--permission", permission]
        out = subprocess.run(
            args,
            env={**os.environ, "DATABASE_URL": self.database_url},
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(base_url: str, proc: subprocess.Popen, log: Path) -> None:
    # Bounded wait for readiness (startup runs migrations); not a test assertion.
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"stages-api exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{base_url}/-/health/ready/", timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError("stages-api did not become ready")


@pytest.fixture(scope="session")
def server():
    if os.environ.get("STAGES_API_URL"):
        yield Server(
            os.environ["STAGES_API_URL"],
            os.environ["STAGES_API_TOKEN"],
            os.environ["STAGES_API_DATABASE_URL"],
        )
        return
    assert BINARY.exists(), f"{BINARY} is missing: run `cargo build --bins` first"
    workdir = tempfile.TemporaryDirectory(prefix="stages-api-openapi-")
    database_url = f"sqlite://{workdir.name}/stages.db?mode=rwc"
    base_url = f"http://127.0.0.1:{_free_port()}"
    token = secrets.token_urlsafe(32)
    log_path = Path(workdir.name) / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [str(BINARY), "serve"],
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "LISTEN_ADDR": base_url.removeprefix("http://"),
            "BOOTSTRAP_TOKEN": token,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir.name,
    )
    try:
        _wait_ready(base_url, proc, log_path)
        yield Server(base_url, token, database_url)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        workdir.cleanup()


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
