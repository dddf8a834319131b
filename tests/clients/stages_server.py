"""The real stages-api binary for the Python client suites (standard library only): started on a
free port with a fresh SQLite file and a bootstrap token, stopped by PID; limited tokens made
with `stages-api token create`. Each suite's conftest puts this folder on sys.path."""

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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("STAGES_API_BIN", REPO_ROOT / "target" / "debug" / "stages-api"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    base_url: str
    database_url: str
    token: str
    database_file: Path | None = None

    def create_token(self, *permissions: str, name: str | None = None) -> str:
        """`stages-api token create` against the server's database; it prints the token alone."""
        args = [str(BINARY), "token", "create", "--name", name or f"suite-{uuid.uuid4().hex[:8]}"]
        for permission in permissions:
            args += ["--permission", permission]
        env = {**os.environ, "DATABASE_URL": self.database_url}
        out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
        lines = out.splitlines()
        assert len(lines) == 1, "token create prints the token alone on one line"
        return lines[0].strip()


def _wait_ready(base_url: str, process: subprocess.Popen, log: Path) -> None:
    # Bounded wait for readiness (startup runs migrations); not a test assertion.
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(
                f"stages-api exited with {process.returncode}:\n{log.read_text(errors='replace')}"
            )
        try:
            with urllib.request.urlopen(f"{base_url}/-/health/ready/", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError("stages-api did not become ready")


@contextmanager
def running_server(prefix: str, server_class=RunningServer, **env: str) -> Iterator:
    """Serves until the block ends; `env` adds to the server's environment."""
    assert BINARY.exists(), f"{BINARY} is missing: run `cargo build --bins` first"
    workdir = tempfile.TemporaryDirectory(prefix=prefix)
    database_file = Path(workdir.name) / "stages.db"
    database_url = f"sqlite://{database_file}?mode=rwc"
    base_url = f"http://127.0.0.1:{free_port()}"
    token = secrets.token_urlsafe(32)
    log_path = Path(workdir.name) / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(BINARY), "serve"],
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "LISTEN_ADDR": base_url.removeprefix("http://"),
            "BOOTSTRAP_TOKEN": token,
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir.name,
    )
    try:
        _wait_ready(base_url, process, log_path)
        yield server_class(base_url, database_url, token, database_file)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        workdir.cleanup()
