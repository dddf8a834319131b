"""Fixtures: the real stages-api binary on a free port with a fresh SQLite file, and
authentik's generated Python client (authentik-client 2025.10.4, unchanged) pointed at it."""

import os
import secrets
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from authentik_client import StagesApi

from helpers import BINARY, Server, free_port, make_api


@pytest.fixture(scope="session")
def server():
    assert BINARY.exists(), f"{BINARY} is missing: run `cargo build --bins` first"
    workdir = tempfile.TemporaryDirectory(prefix="stages-api-pytest-")
    db_file = Path(workdir.name) / "stages.db"
    database_url = f"sqlite://{db_file}?mode=rwc"
    port = free_port()
    token = secrets.token_urlsafe(32)
    log = open(Path(workdir.name) / "server.log", "wb")
    proc = subprocess.Popen(
        [str(BINARY), "serve"],
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "LISTEN_ADDR": f"127.0.0.1:{port}",
            "BOOTSTRAP_TOKEN": token,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir.name,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        # Bounded wait for readiness (startup includes migrations); not a test assertion.
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"stages-api exited with {proc.returncode}:\n"
                    + (Path(workdir.name) / "server.log").read_text(errors="replace")
                )
            try:
                with urllib.request.urlopen(f"{base_url}/-/health/ready/", timeout=1) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("stages-api did not become ready")
        yield Server(port, base_url, database_url, db_file, token)
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
def api(server) -> StagesApi:
    return make_api(server, server.token)


@pytest.fixture
def tag() -> str:
    """A unique marker so each test can find exactly its own stages in the shared database."""
    return uuid.uuid4().hex[:12]
