"""Schemathesis checks of this suite (loaded through SCHEMATHESIS_HOOKS=hooks).

`requires_token`: every request schemathesis sends (with the Bearer token) to an operation that needs
a token (all but the flow executor, whose callers are anonymous browsers) is sent again without
an `Authorization` header and with an unknown token; both must be refused the way the spec says:
REST answers 403 `{"detail": …}` with the spec's message, GraphQL an `UNAUTHENTICATED` error and
no data. Schemathesis's own `ignored_auth` only probes requests that succeeded; this probes all.

GraphQL's `UUID` scalar: mostly ids of the stages, flows and bindings seed.py created
(STAGES_SEEDED_IDS names its ids.json), otherwise random UUIDs; without it, schemathesis would send
arbitrary strings.

`documented_status`: for the run against authentik's own document, which leaves out statuses that
authentik (and this service) answer: the status must be one the operation documents, or one the
spec adds on purpose (404 unknown id / non-UUID segment / invalid page, 413 body too large, 415
body not JSON). Schemathesis's `status_code_conformance` would flag every 404.
"""

import http.client
import json
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

UNKNOWN_TOKEN = "Bearer unknown-token-" + "0" * 32


def _resend(prepared, authorization: str | None) -> tuple[int, bytes]:
    """`prepared` again on a fresh connection, head and body in one write, `Authorization`
    replaced. One write, so that the probe measures authentication and nothing else (see the
    report on early answers that close the connection)."""
    url = urlsplit(prepared.url)
    headers = [
        (name, value)
        for name, value in prepared.headers.items()
        if name.lower() not in ("authorization", "connection", "content-length", "transfer-encoding", "host")
    ]
    if authorization is not None:
        headers.append(("Authorization", authorization))
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers += [("Host", url.netloc), ("Connection", "close"), ("Content-Length", str(len(body)))]
    head = f"{prepared.method} {prepared.path_url} HTTP/1.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head.encode("utf-8", "surrogateescape") + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def _json(data: bytes):
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")


@schemathesis.check
def requires_token(ctx, response, case):
    prepared = response.request
    # Methods the document does not give the route are answered 405 before authentication.
    if prepared.method.lower() != case.operation.method.lower():
        return None
    # The flow executor's callers are anonymous browsers (its `security` holds `{}`): no token.
    if "/flows/executor/" in prepared.path_url:
        return None
    graphql = prepared.path_url.split("?")[0].rstrip("/").endswith("/graphql")
    probes = [
        (None, "Authentication credentials were not provided."),
        (UNKNOWN_TOKEN, "Token invalid/expired"),
    ]
    for authorization, message in probes:
        status, data = _resend(prepared, authorization)
        label = "no Authorization header" if authorization is None else "an unknown token"
        body = _json(data)
        if graphql:
            errors = body.get("errors") if isinstance(body, dict) else None
            codes = [e.get("extensions", {}).get("code") for e in errors or []]
            ok = (
                status == 200
                and body.get("data") is None
                and codes == ["UNAUTHENTICATED"]
                and errors[0].get("message") == message
            )
            expected = f"200 with data null and one UNAUTHENTICATED error {message!r}"
        else:
            ok = status == 403 and body == {"detail": message}
            expected = f'403 {{"detail": "{message}"}}'
        if not ok:
            raise AssertionError(
                f"{prepared.method} {prepared.path_url} with {label}: expected {expected}, "
                f"got {status} {json.dumps(body)[:500]}"
            )


# The statuses captcha-stage-api.md (sections 6, 7.3, 9) adds to authentik's document; the
# flows and bindings operations (flows-api.md) answer the same ones.
SPEC_ADDED_STATUSES = {"404", "413", "415"}


@schemathesis.check
def documented_status(ctx, response, case):
    if response.request.method.lower() != case.operation.method.lower():
        return None
    documented = set(case.operation.definition.raw.get("responses", {}))
    status = str(response.status_code)
    if status not in documented | SPEC_ADDED_STATUSES:
        raise AssertionError(
            f"{response.request.method} {response.request.path_url}: status {status} is neither "
            f"documented ({sorted(documented)}) nor one the spec adds ({sorted(SPEC_ADDED_STATUSES)})"
        )


# extensions.code values of client mistakes: graphql.md's, and GraphQL validation.
GRAPHQL_CLIENT_CODES = {
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    # Request-level: a literal the schema cannot take (e.g. an Int out of range).
    "GRAPHQL_VALIDATION_FAILED",
}


@schemathesis.check
def graphql_no_server_error(ctx, response, case):
    """GraphQL's `not_a_server_error` by graphql.md: no 5xx, and every error raised while resolving
    (it has a `path`) carries one of the spec's client codes. Schemathesis's own check counts every
    code it does not know (NOT_FOUND, FORBIDDEN) as a server error."""
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.content[:500]!r}")
    try:
        payload = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"not JSON: {exc}") from None
    for error in payload.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if "path" in error and code not in GRAPHQL_CLIENT_CODES:
            raise AssertionError(f"resolver error with code {code!r}: {json.dumps(error)[:500]}")


def _seeded_ids() -> list[str]:
    path = os.environ.get("STAGES_SEEDED_IDS")
    if not path:
        return []
    ids = json.loads(Path(path).read_text())
    return ids["kept"] + ids["deletable"]


_uuids = st.uuids().map(str)
_seeded = _seeded_ids()
schemathesis.graphql.scalar(
    "UUID",
    (st.one_of(st.sampled_from(_seeded), st.sampled_from(_seeded), _uuids) if _seeded else _uuids).map(nodes.String),
)
