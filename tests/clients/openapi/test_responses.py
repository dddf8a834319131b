"""Real responses of the running binary, validated (with openapi-core) against the schema that
stages-api's document gives for their operation and status, and against authentik's document
wherever authentik documents that status.

Both documents are made strict for this: every object schema that lists its properties gets
`additionalProperties: false`, so a key the document does not name (a leaked `private_key`, a
renamed field) fails validation instead of passing silently.
"""

import copy
import json

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from conftest import ADD, VIEW
from documents import operations
from test_document import ADDED_STATUSES

PRIVATE_KEYS = ("secret-key-value", "another-secret")

# Free-form by definition: field maps of errors, and autocomplete.
FREE_FORM = {"ValidationError", "Autocomplete"}


def strict(doc: dict) -> dict:
    doc = copy.deepcopy(doc)

    def visit(node, name=None):
        if isinstance(node, dict):
            if name not in FREE_FORM and "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    for name, schema in doc["components"]["schemas"].items():
        visit(schema, name)
    return doc


@pytest.fixture(scope="module")
def specs(ours, authentik):
    return {
        "ours": (OpenAPI.from_dict(strict(ours)), ours),
        "authentik": (OpenAPI.from_dict(strict(authentik)), authentik),
    }


def documented_statuses(doc: dict, operation_id: str) -> set[str]:
    for _, _, operation in operations(doc):
        if operation["operationId"] == operation_id:
            return set(operation["responses"])
    raise AssertionError(f"no operation {operation_id}")


def check(specs, response: requests.Response, operation_id: str, status: int) -> requests.Response:
    """`response` has `status` and a body valid for `operation_id` in ours (and authentik's)."""
    assert response.status_code == status, (response.status_code, response.text)
    request = RequestsOpenAPIRequest(response.request)
    wrapped = RequestsOpenAPIResponse(response)
    spec, ours = specs["ours"]
    assert str(status) in documented_statuses(ours, operation_id)
    spec.validate_response(request, wrapped)
    spec, theirs = specs["authentik"]
    if str(status) in documented_statuses(theirs, operation_id):
        spec.validate_response(request, wrapped)
    else:
        assert str(status) in ADDED_STATUSES, status
    # No response carries a private key (the key may be named in a validation error).
    assert not any(secret in response.text for secret in PRIVATE_KEYS)
    return response


def stage_body(tag: str, **fields) -> dict:
    return {"name": f"oa-{tag}", "public_key": f"pub-{tag}", "private_key": PRIVATE_KEYS[0], **fields}


def flow_item(slug: str) -> dict:
    return {"name": "Flow", "slug": slug, "title": "Title", "designation": "authentication"}


@pytest.fixture
def api(server):
    return server.session(server.token)


@pytest.fixture
def stage(api, server, specs, tag):
    response = api.post(f"{server.api}/stages/captcha/", json=stage_body(tag, flow_set=[flow_item(f"f-{tag}")]))
    return check(specs, response, "stages_captcha_create", 201).json()


def test_create(stage, tag):
    assert stage["name"] == f"oa-{tag}"
    assert [flow["slug"] for flow in stage["flow_set"]] == [f"f-{tag}"]


def test_list_filters_and_pages(api, server, specs, stage, tag):
    url = f"{server.api}/stages/captcha/"
    body = check(specs, api.get(url, params={"name": stage["name"]}), "stages_captcha_list", 200).json()
    assert [s["pk"] for s in body["results"]] == [stage["pk"]]
    body = check(
        specs,
        api.get(url, params={"search": tag, "ordering": "-name", "page_size": 1, "public_key": f"pub-{tag}"}),
        "stages_captcha_list",
        200,
    ).json()
    assert body["pagination"]["count"] == 1 and body["autocomplete"] == {}
    check(specs, api.get(url, params={"page": 0}), "stages_captcha_list", 404)
    check(specs, api.get(url, params={"page": "last", "page_size": "x"}), "stages_captcha_list", 200)


def test_retrieve(api, server, specs, stage):
    url = f"{server.api}/stages/captcha/{stage['pk']}/"
    assert check(specs, api.get(url), "stages_captcha_retrieve", 200).json() == stage
    unknown = f"{server.api}/stages/captcha/00000000-0000-4000-8000-000000000000/"
    response = check(specs, api.get(unknown), "stages_captcha_retrieve", 404)
    assert response.json() == {"detail": "No CaptchaStage matches the given query."}


def test_put_the_get_body_back(api, server, specs, stage):
    url = f"{server.api}/stages/captcha/{stage['pk']}/"
    body = {**stage, "private_key": PRIVATE_KEYS[1]}
    assert check(specs, api.put(url, json=body), "stages_captcha_update", 200).json() == stage


def test_patch(api, server, specs, stage):
    url = f"{server.api}/stages/captcha/{stage['pk']}/"
    body = check(specs, api.patch(url, json={"interactive": True}), "stages_captcha_partial_update", 200).json()
    assert body["interactive"] is True
    # An empty PATCH body is `{}`: the body is optional in both documents.
    check(specs, api.patch(url), "stages_captcha_partial_update", 200)


def test_used_by_and_delete(api, server, specs, stage):
    url = f"{server.api}/stages/captcha/{stage['pk']}/"
    used_by = check(specs, api.get(url + "used_by/"), "stages_captcha_used_by_list", 200).json()
    assert sorted(entry["action"] for entry in used_by) == ["cascade", "cascade_many"]
    response = check(specs, api.delete(url), "stages_captcha_destroy", 204)
    assert response.content == b""
    check(specs, api.delete(url), "stages_captcha_destroy", 404)
    check(specs, api.get(url + "used_by/"), "stages_captcha_used_by_list", 404)


def test_validation_errors(api, server, specs, stage, tag):
    url = f"{server.api}/stages/captcha/"
    body = check(specs, api.post(url, json={}), "stages_captcha_create", 400).json()
    assert set(body) == {"name", "public_key", "private_key"}
    body = check(
        specs,
        api.post(url, json=stage_body(f"{tag}-2", flow_set=[flow_item(f"f-{tag}"), 5])),
        "stages_captcha_create",
        400,
    ).json()
    assert body == {
        "flow_set": [
            {"slug": ["Flow with this slug already exists."]},
            {"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]},
        ]
    }
    response = api.post(url, data=b"{", headers={"Content-Type": "application/json"})
    assert check(specs, response, "stages_captcha_create", 400).json()["detail"].startswith("JSON parse error - ")
    detail_url = f"{url}{stage['pk']}/"
    check(specs, api.patch(detail_url, json={"name": ""}), "stages_captcha_partial_update", 400)
    check(specs, api.put(detail_url, json={"name": stage["name"]}), "stages_captcha_update", 400)


def test_media_type_and_size(api, server, specs, stage):
    url = f"{server.api}/stages/captcha/"
    response = api.post(url, data=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert check(specs, response, "stages_captcha_create", 415).json() == {
        "detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.'
    }
    big = json.dumps({"name": "x" * (1024 * 1024 + 1)}).encode()
    response = api.patch(f"{url}{stage['pk']}/", data=big, headers={"Content-Type": "application/json"})
    check(specs, response, "stages_captcha_partial_update", 413)


@pytest.mark.parametrize(
    "method,path,operation_id",
    [
        ("get", "", "stages_captcha_list"),
        ("post", "", "stages_captcha_create"),
        ("get", "{pk}/", "stages_captcha_retrieve"),
        ("put", "{pk}/", "stages_captcha_update"),
        ("patch", "{pk}/", "stages_captcha_partial_update"),
        ("delete", "{pk}/", "stages_captcha_destroy"),
        ("get", "{pk}/used_by/", "stages_captcha_used_by_list"),
    ],
)
def test_every_operation_needs_a_token(server, specs, stage, method, path, operation_id):
    url = f"{server.api}/stages/captcha/{path.format(pk=stage['pk'])}"
    cases = [
        (server.session(), "Authentication credentials were not provided."),
        (server.session("not-a-token-" + "x" * 32), "Token invalid/expired"),
    ]
    for session, message in cases:
        response = getattr(session, method)(url, json=stage_body("noauth"))
        assert check(specs, response, operation_id, 403).json() == {"detail": message}
        assert "www-authenticate" not in response.headers


def test_missing_permission(server, specs, stage, tag):
    viewer = server.session(server.create_token(VIEW))
    url = f"{server.api}/stages/captcha/"
    response = check(specs, viewer.post(url, json=stage_body(tag)), "stages_captcha_create", 403)
    assert response.json() == {"detail": "You do not have permission to perform this action."}
    adder = server.session(server.create_token(ADD))
    check(specs, adder.get(url), "stages_captcha_list", 403)
    check(specs, viewer.get(url), "stages_captcha_list", 200)


def test_validation_can_fail(api, server, ours, stage):
    """A document without `interactive` rejects a real response: the validation is not vacuous."""
    changed = copy.deepcopy(ours)
    del changed["components"]["schemas"]["CaptchaStage"]["properties"]["interactive"]
    spec = OpenAPI.from_dict(strict(changed))
    response = api.get(f"{server.api}/stages/captcha/{stage['pk']}/")
    with pytest.raises(Exception, match="nvalid"):
        spec.validate_response(RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response))
