"""/api/v3/flows/executor/{slug}/ (flow-executor.md) read with authentik's generated Python client.

The client's `ChallengeTypes` is a oneOf without a discriminator that it uses: even authentik's
own answers match several of its models, so `flows_executor_get` cannot parse them. The requests
are therefore built by the client itself (FlowsApi's serializers: path, `query` parameter,
FlowChallengeResponseRequest body), sent as a browser sends them (session cookie kept, 302s
followed with a GET, which urllib3 would not do for a POST), and each raw answer is validated
with the concrete models: CaptchaChallenge, RedirectChallenge, AccessDeniedChallenge.

The stages call a scripted siteverify peer: an HTTP server in this file that answers as each
test says and records the forms it receives."""

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3
from authentik_client import (
    AccessDeniedChallenge,
    CaptchaChallenge,
    CaptchaChallengeResponseRequest,
    ContextualFlowInfoLayoutEnum,
    ErrorDetail,
    FlowChallengeResponseRequest,
    FlowStageBindingRequest,
    RedirectChallenge,
)

from helpers import DEFAULT_BACKGROUND, new_flow, new_stage

AVATAR = "/static/dist/assets/images/user_default.png"
SECRET_MARK = "py-exec-secret-"
TOKEN_MARK = "py-exec-token-"
CAPTCHA_KEYS = [
    "flow_info", "component", "pending_user", "pending_user_avatar", "site_key", "js_url",
    "interactive",
]
FLOW_INFO_KEYS = ["title", "background", "cancel_url", "layout"]


class Peer:
    """The scripted siteverify peer: `reply` is (status, body) for the next calls."""

    def __init__(self):
        self.calls = []
        self.reply = (200, {"success": True})
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length).decode()
                peer.calls.append({
                    "content_type": self.headers.get("content-type"),
                    "form": dict(urllib.parse.parse_qsl(body, keep_blank_values=True)),
                })
                status, answer = peer.reply
                data = json.dumps(answer).encode() if isinstance(answer, dict) else answer.encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/siteverify"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def take(self):
        calls, self.calls = self.calls, []
        return calls

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def shared_peer():
    peer = Peer()
    yield peer
    peer.stop()


@pytest.fixture
def peer(shared_peer):
    """The peer, with no calls recorded and passing every token, for each test."""
    shared_peer.take()
    shared_peer.reply = (200, {"success": True})
    return shared_peer


class Browser:
    """Requests built by FlowsApi's own serializers, sent with a cookie jar of one cookie."""

    def __init__(self, server, flows, query: str):
        self.server = server
        self.flows = flows
        self.query = query
        self.cookie = None
        self.hops = []
        self.http = urllib3.PoolManager()

    def _send(self, method, url, headers, body):
        while True:
            headers = dict(headers)
            headers.pop("Authorization", None)
            if self.cookie:
                headers["Cookie"] = f"authentik_session={self.cookie}"
            data = json.dumps(body) if body is not None else None
            response = self.http.request(method, url, body=data, headers=headers, redirect=False)
            set_cookie = response.headers.get("set-cookie")
            if set_cookie:
                assert set_cookie.endswith("; HttpOnly; SameSite=Lax; Path=/"), set_cookie
                self.cookie = set_cookie.split(";")[0].split("=", 1)[1]
                assert len(self.cookie) == 43
            text = response.data.decode()
            assert response.status < 500, text
            assert SECRET_MARK not in text and TOKEN_MARK not in text, text
            if response.status != 302:
                return response.status, text
            location = response.headers["location"]
            self.hops.append(location)
            url = urllib.parse.urljoin(url, location)
            method, headers, body = "GET", {}, None

    def get(self, slug):
        method, url, headers, body, _ = self.flows._flows_executor_get_serialize(
            flow_slug=slug, query=self.query, _request_auth=None, _content_type=None,
            _headers=None, _host_index=0,
        )
        return self._send(method, url, headers, body)

    def solve(self, slug, token=None):
        response = CaptchaChallengeResponseRequest(token=token) if token is not None else \
            CaptchaChallengeResponseRequest.model_construct(component="ak-stage-captcha")
        method, url, headers, body, _ = self.flows._flows_executor_solve_serialize(
            flow_slug=slug, query=self.query,
            flow_challenge_response_request=FlowChallengeResponseRequest(response),
            _request_auth=None, _content_type=None, _headers=None, _host_index=0,
        )
        return self._send(method, url, headers, body)

    def executor_path(self, slug):
        return f"/api/v3/flows/executor/{slug}/?" + urllib.parse.urlencode({"query": self.query})


def captcha_flow(api, flows, peer, slug, actions, **flow_fields):
    flow = new_flow(flows, slug, **flow_fields)
    stages = []
    for order, (action, fields) in enumerate(actions):
        stage = new_stage(
            api, f"{slug}-{order}", public_key=f"site-{slug}-{order}",
            private_key=f"{SECRET_MARK}{slug}-{order}", api_url=peer.url,
            js_url=f"http://127.0.0.1/js/{slug}-{order}.js", **fields,
        )
        flows.flows_bindings_create(FlowStageBindingRequest(
            target=flow.pk, stage=stage.pk, order=order * 10, invalid_response_action=action,
        ))
        stages.append(stage)
    return stages


def check_flow_info(info, raw, slug, query):
    assert list(raw) == FLOW_INFO_KEYS
    assert info.title == f"Title {slug}"
    assert info.background == DEFAULT_BACKGROUND
    assert info.cancel_url == (f"/flows/-/cancel/?{query}" if query else "/flows/-/cancel/")
    assert info.layout == ContextualFlowInfoLayoutEnum.STACKED


def captcha(answer, browser, slug, stage, error=None) -> CaptchaChallenge:
    status, text = answer
    assert status == 200, text
    raw = json.loads(text)
    keys = list(CAPTCHA_KEYS)
    if error:
        keys.insert(2, "response_errors")
    assert list(raw) == keys
    challenge = CaptchaChallenge.from_dict(raw)
    assert challenge.component == "ak-stage-captcha"
    check_flow_info(challenge.flow_info, raw["flow_info"], slug, browser.query)
    assert challenge.pending_user == ""
    assert challenge.pending_user_avatar == AVATAR
    assert challenge.site_key == stage.public_key
    assert challenge.js_url == stage.js_url
    assert challenge.interactive is stage.interactive
    if error:
        assert list(challenge.response_errors) == ["token"]
        [detail] = challenge.response_errors["token"]
        assert isinstance(detail, ErrorDetail)
        assert (detail.string, detail.code) == error
    else:
        assert not challenge.response_errors
    return challenge


def redirect(answer, to):
    status, text = answer
    assert status == 200, text
    raw = json.loads(text)
    assert list(raw) == ["component", "to"]
    challenge = RedirectChallenge.from_dict(raw)
    assert challenge.component == "xak-flow-redirect"
    assert challenge.to == to
    # from_dict turns a missing response_errors into {}, which to_dict then writes out.
    assert {k: v for k, v in challenge.to_dict().items() if k != "response_errors"} == raw


def test_two_stages_to_the_redirect(server, api, flows, peer, tag):
    slug = f"py-two-{tag}"
    first, second = captcha_flow(api, flows, peer, slug, [("retry", {}), ("retry", {"interactive": True})])
    browser = Browser(server, flows, "next=%2Fapp%2F")
    captcha(browser.get(slug), browser, slug, first)
    assert browser.cookie

    peer.reply = (200, {"success": True, "hostname": "localhost"})
    captcha(browser.solve(slug, f"{TOKEN_MARK}one"), browser, slug, second)
    assert browser.hops == [browser.executor_path(slug)]
    [call] = peer.take()
    assert call["content_type"] == "application/x-www-form-urlencoded"
    assert call["form"] == {
        "secret": f"{SECRET_MARK}{slug}-0", "response": f"{TOKEN_MARK}one", "remoteip": "127.0.0.1",
    }
    redirect(browser.solve(slug, f"{TOKEN_MARK}two"), "/app/")
    assert peer.take()[0]["form"]["secret"] == f"{SECRET_MARK}{slug}-1"


@pytest.mark.parametrize("reply,message", [
    ((200, {"success": False, "error-codes": ["timeout-or-duplicate"]}),
     "Invalid captcha response. Retrying may solve this issue."),
    ((200, {"success": False, "error-codes": ["invalid-input-secret"]}), "Invalid captcha response"),
    ((200, {"success": True, "score": 0.2}), "Invalid captcha response"),
    ((500, {"success": True}), "Failed to validate token"),
    ((200, "<html>not json</html>"), "Failed to validate token"),
])
def test_refused_tokens_answer_the_challenge_with_errors(server, api, flows, peer, tag, reply, message):
    slug = f"py-refused-{tag}"
    [stage] = captcha_flow(api, flows, peer, slug, [("retry", {})])
    browser = Browser(server, flows, "")
    captcha(browser.get(slug), browser, slug, stage)
    peer.reply = reply
    captcha(browser.solve(slug, f"{TOKEN_MARK}x"), browser, slug, stage, (message, "invalid"))
    assert len(peer.take()) == 1
    peer.reply = (200, {"success": True})
    captcha(browser.solve(slug), browser, slug, stage, ("This field is required.", "required"))
    assert peer.take() == []
    redirect(browser.solve(slug, f"{TOKEN_MARK}ok"), "/")
    peer.take()


def test_restart_goes_back_to_the_first_stage(server, api, flows, peer, tag):
    slug = f"py-restart-{tag}"
    first, second = captcha_flow(api, flows, peer, slug, [("retry", {}), ("restart_with_context", {})])
    browser = Browser(server, flows, "next=%2Fr%2F")
    browser.get(slug)
    peer.reply = (200, {"success": True})
    captcha(browser.solve(slug, f"{TOKEN_MARK}a"), browser, slug, second)
    peer.reply = (200, {"success": False, "error-codes": ["invalid-input-response"]})
    browser.hops = []
    captcha(browser.solve(slug, f"{TOKEN_MARK}b"), browser, slug, first)
    assert browser.hops == [browser.executor_path(slug)]
    peer.take()


def test_empty_denied_and_unknown_flows(server, api, flows, peer, tag):
    browser = Browser(server, flows, "next=%2Fwelcome%2F")
    new_flow(flows, f"py-empty-{tag}")
    redirect(browser.get(f"py-empty-{tag}"), "/welcome/")

    slug = f"py-members-{tag}"
    new_flow(flows, slug, authentication="require_authenticated", denied_action="message")
    status, text = browser.get(slug)
    assert status == 200, text
    raw = json.loads(text)
    assert list(raw) == [
        "flow_info", "component", "pending_user", "pending_user_avatar", "error_message",
    ]
    denied = AccessDeniedChallenge.from_dict(raw)
    assert denied.component == "ak-stage-access-denied"
    check_flow_info(denied.flow_info, raw["flow_info"], slug, browser.query)
    assert denied.error_message == "Flow does not apply to current user."
    assert (denied.pending_user, denied.pending_user_avatar) == ("", AVATAR)

    status, text = browser.get(f"py-nowhere-{tag}")
    assert status == 404
    assert json.loads(text) == {"detail": "No Flow matches the given query."}
    assert peer.take() == []
