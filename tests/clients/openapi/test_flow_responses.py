"""Real responses of `/flows/instances/` and `/flows/bindings/` (flows-api.md), validated with
openapi-core against stages-api's document and, wherever authentik documents the status, against
authentik's own, both made strict (test_responses.strict: no key beyond those documented)."""

import copy
import json
import uuid

import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from test_responses import check, specs, strict  # noqa: F401  (specs is a fixture)

VIEW_FLOW = "authentik_flows.view_flow"
ADD_FLOW = "authentik_flows.add_flow"
VIEW_BINDING = "authentik_flows.view_flowstagebinding"
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


def flow_body(slug: str, **fields) -> dict:
    return {"name": f"Flow {slug}", "slug": slug, "title": f"Title {slug}", "designation": "authentication", **fields}


@pytest.fixture
def api(server):
    return server.session(server.token)


@pytest.fixture
def flow(api, server, specs, tag):
    response = api.post(f"{server.api}/flows/instances/", json=flow_body(f"oaf-{tag}"))
    return check(specs, response, "flows_instances_create", 201).json()


@pytest.fixture
def stage(api, server, tag):
    body = {"name": f"oaf-stage-{tag}", "public_key": "pub", "private_key": "secret-key-value"}
    response = api.post(f"{server.api}/stages/captcha/", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def binding(api, server, specs, flow, stage):
    body = {"target": flow["pk"], "stage": stage["pk"], "order": 10}
    return check(specs, api.post(f"{server.api}/flows/bindings/", json=body), "flows_bindings_create", 201).json()


# --- flows --------------------------------------------------------------------------------------


def test_create_every_field(api, server, specs, tag):
    body = flow_body(
        f"oaf-full-{tag}", designation="stage_configuration", policy_engine_mode="all", compatibility_mode=True,
        layout="sidebar_right", denied_action="continue", authentication="require_outpost",
    )
    created = check(specs, api.post(f"{server.api}/flows/instances/", json=body), "flows_instances_create", 201).json()
    assert {key: created[key] for key in body} == body


def test_flow_list_filters_and_pages(api, server, specs, flow, binding, tag):
    url = f"{server.api}/flows/instances/"
    body = check(specs, api.get(url, params={"slug": flow["slug"]}), "flows_instances_list", 200).json()
    assert [f["pk"] for f in body["results"]] == [flow["pk"]]
    assert body["results"][0]["stages"] == [binding["stage"]]
    params = {
        "search": tag, "flow_uuid": flow["pk"], "name": flow["name"], "designation": "authentication",
        "denied_action": "message_continue", "ordering": "-slug,nonsense", "page": 1, "page_size": 1,
    }
    body = check(specs, api.get(url, params=params), "flows_instances_list", 200).json()
    assert body["pagination"]["count"] == 1 and body["autocomplete"] == {}
    check(specs, api.get(url, params={"page": 0}), "flows_instances_list", 404)
    response = check(specs, api.get(url, params={"designation": "bogus"}), "flows_instances_list", 400)
    assert response.json() == {"designation": ["Select a valid choice. bogus is not one of the available choices."]}
    response = check(specs, api.get(url, params={"flow_uuid": "nope"}), "flows_instances_list", 400)
    assert response.json() == {"flow_uuid": ["Enter a valid UUID."]}


def test_flow_retrieve_put_patch(api, server, specs, flow, binding, tag):
    url = f"{server.api}/flows/instances/{flow['slug']}/"
    got = check(specs, api.get(url), "flows_instances_retrieve", 200).json()
    assert got == {**flow, "stages": [binding["stage"]]}
    # The GET body sent back as a PUT changes nothing (read-only keys are ignored).
    assert check(specs, api.put(url, json=got), "flows_instances_update", 200).json() == got
    moved = check(
        specs, api.put(url, json=flow_body(f"oaf-moved-{tag}")), "flows_instances_update", 200
    ).json()
    assert (moved["pk"], moved["stages"]) == (flow["pk"], [binding["stage"]])
    url = f"{server.api}/flows/instances/oaf-moved-{tag}/"
    patched = check(specs, api.patch(url, json={"layout": "content_left"}), "flows_instances_partial_update", 200)
    assert patched.json()["layout"] == "content_left"
    # An empty PATCH body is `{}`: the body is optional in both documents.
    check(specs, api.patch(url), "flows_instances_partial_update", 200)


def test_flow_validation_errors(api, server, specs, flow):
    url = f"{server.api}/flows/instances/"
    body = check(specs, api.post(url, json={}), "flows_instances_create", 400).json()
    assert body == {key: ["This field is required."] for key in ("name", "slug", "title", "designation")}
    body = check(specs, api.post(url, json=flow_body(flow["slug"])), "flows_instances_create", 400).json()
    assert body == {"slug": ["Flow with this slug already exists."]}
    body = check(
        specs, api.post(url, json=flow_body("x", designation="nope", authentication="maybe")), "flows_instances_create", 400
    ).json()
    assert body == {
        "designation": ['"nope" is not a valid choice.'],
        "authentication": ['"maybe" is not a valid choice.'],
    }
    response = api.post(url, data=b"{", headers={"Content-Type": "application/json"})
    assert check(specs, response, "flows_instances_create", 400).json()["detail"].startswith("JSON parse error - ")
    detail = f"{url}{flow['slug']}/"
    check(specs, api.patch(detail, json={"slug": "not a slug"}), "flows_instances_partial_update", 400)
    check(specs, api.put(detail, json={"name": "only"}), "flows_instances_update", 400)


def test_flow_used_by_and_delete(api, server, specs, flow, binding, stage):
    url = f"{server.api}/flows/instances/{flow['slug']}/"
    used_by = check(specs, api.get(url + "used_by/"), "flows_instances_used_by_list", 200).json()
    assert used_by == [
        {"app": "authentik_flows", "model_name": "flowstagebinding", "pk": binding["pk"],
         "name": f"Flow-stage binding #10 to {flow['pk']}", "action": "cascade"},
        {"app": "authentik_flows", "model_name": "stage", "pk": stage["pk"],
         "name": f"Stage {stage['name']}", "action": "cascade_many"},
    ]
    response = check(specs, api.delete(url), "flows_instances_destroy", 204)
    assert response.content == b""
    for method, suffix, operation_id in [
        ("get", "", "flows_instances_retrieve"),
        ("put", "", "flows_instances_update"),
        ("patch", "", "flows_instances_partial_update"),
        ("delete", "", "flows_instances_destroy"),
        ("get", "used_by/", "flows_instances_used_by_list"),
    ]:
        response = getattr(api, method)(url + suffix, json=flow_body(flow["slug"]))
        assert check(specs, response, operation_id, 404).json() == {"detail": "No Flow matches the given query."}
    check(specs, api.get(f"{server.api}/flows/bindings/{binding['pk']}/"), "flows_bindings_retrieve", 404)
    assert api.get(f"{server.api}/stages/captcha/{stage['pk']}/").json()["flow_set"] == []


def test_flow_media_type_and_size(api, server, specs, flow):
    url = f"{server.api}/flows/instances/"
    response = api.post(url, data=b"name=x", headers={"Content-Type": "text/plain"})
    assert check(specs, response, "flows_instances_create", 415).json() == {
        "detail": 'Unsupported media type "text/plain" in request.'
    }
    big = json.dumps({"title": "x" * (1024 * 1024 + 1)}).encode()
    response = api.patch(f"{url}{flow['slug']}/", data=big, headers={"Content-Type": "application/json"})
    check(specs, response, "flows_instances_partial_update", 413)


# --- bindings -----------------------------------------------------------------------------------


def test_binding_shapes(binding, flow, stage):
    assert binding["stage_obj"]["component"] == "ak-stage-captcha-form"
    assert binding["stage_obj"]["meta_model_name"] == "authentik_stages_captcha.captchastage"
    assert [f["pk"] for f in binding["stage_obj"]["flow_set"]] == [flow["pk"]]
    assert "private_key" not in binding["stage_obj"]


def test_binding_list_filters_and_pages(api, server, specs, binding, flow, stage, tag):
    url = f"{server.api}/flows/bindings/"
    params = {
        "target": flow["pk"], "stage": stage["pk"], "order": 10, "evaluate_on_plan": "false",
        "re_evaluate_policies": "true", "policy_engine_mode": "any", "invalid_response_action": "retry",
        "fsb_uuid": binding["pk"], "pbm_uuid": binding["policybindingmodel_ptr_id"], "search": tag,
        "ordering": "-order,pk", "page": 1, "page_size": 5,
    }
    body = check(specs, api.get(url, params=params), "flows_bindings_list", 200).json()
    assert [b["pk"] for b in body["results"]] == [binding["pk"]]
    assert body["results"][0] == binding
    check(specs, api.get(url, params={"page": "0"}), "flows_bindings_list", 404)
    response = check(specs, api.get(url, params={"target": "x", "order": "y"}), "flows_bindings_list", 400)
    assert response.json() == {"target": ["Enter a valid UUID."], "order": ["Enter a number."]}


def test_binding_retrieve_put_patch_used_by(api, server, specs, binding, tag):
    url = f"{server.api}/flows/bindings/{binding['pk']}/"
    assert check(specs, api.get(url), "flows_bindings_retrieve", 200).json() == binding
    # The GET body sent back as a PUT changes nothing.
    assert check(specs, api.put(url, json=binding), "flows_bindings_update", 200).json() == binding
    body = {"target": binding["target"], "stage": binding["stage"], "order": 11, "invalid_response_action": "restart"}
    updated = check(specs, api.put(url, json=body), "flows_bindings_update", 200).json()
    assert (updated["order"], updated["invalid_response_action"]) == (11, "restart")
    patched = check(specs, api.patch(url, json={"evaluate_on_plan": True}), "flows_bindings_partial_update", 200).json()
    assert patched["evaluate_on_plan"] is True
    check(specs, api.patch(url), "flows_bindings_partial_update", 200)
    assert check(specs, api.get(url + "used_by/"), "flows_bindings_used_by_list", 200).json() == []


def test_binding_validation_errors(api, server, specs, binding, flow, stage):
    url = f"{server.api}/flows/bindings/"
    body = check(specs, api.post(url, json={}), "flows_bindings_create", 400).json()
    assert body == {key: ["This field is required."] for key in ("target", "stage", "order")}
    ghost = str(uuid.uuid4())
    body = check(
        specs, api.post(url, json={"target": ghost, "stage": stage["pk"], "order": 1}), "flows_bindings_create", 400
    ).json()
    assert body == {"target": [f'Invalid pk "{ghost}" - object does not exist.']}
    same = {"target": flow["pk"], "stage": stage["pk"], "order": 10}
    body = check(specs, api.post(url, json=same), "flows_bindings_create", 400).json()
    assert body == {"non_field_errors": ["The fields target, stage, order must make a unique set."]}
    detail = f"{url}{binding['pk']}/"
    body = check(
        specs, api.patch(detail, json={"order": 2**31, "policy_engine_mode": "most"}), "flows_bindings_partial_update", 400
    ).json()
    assert body == {
        "order": ["Ensure this value is less than or equal to 2147483647."],
        "policy_engine_mode": ['"most" is not a valid choice.'],
    }
    check(specs, api.put(detail, json={"order": 3}), "flows_bindings_update", 400)


def test_binding_delete_and_404(api, server, specs, binding, flow, stage):
    url = f"{server.api}/flows/bindings/{binding['pk']}/"
    response = check(specs, api.delete(url), "flows_bindings_destroy", 204)
    assert response.content == b""
    body = {"target": flow["pk"], "stage": stage["pk"], "order": 1}
    for method, suffix, operation_id in [
        ("get", "", "flows_bindings_retrieve"),
        ("put", "", "flows_bindings_update"),
        ("patch", "", "flows_bindings_partial_update"),
        ("delete", "", "flows_bindings_destroy"),
        ("get", "used_by/", "flows_bindings_used_by_list"),
    ]:
        response = getattr(api, method)(url + suffix, json=body)
        assert check(specs, response, operation_id, 404).json() == {
            "detail": "No FlowStageBinding matches the given query."
        }
    response = api.get(f"{server.api}/flows/bindings/not-a-uuid/")
    assert check(specs, response, "flows_bindings_retrieve", 404).json() == {"detail": "Not found."}
    # The flow and the stage stay.
    check(specs, api.get(f"{server.api}/flows/instances/{flow['slug']}/"), "flows_instances_retrieve", 200)
    assert api.get(f"{server.api}/stages/captcha/{stage['pk']}/").status_code == 200


# --- authentication and permissions -------------------------------------------------------------

OPERATIONS = [
    ("get", "instances/", "flows_instances_list"),
    ("post", "instances/", "flows_instances_create"),
    ("get", "instances/{slug}/", "flows_instances_retrieve"),
    ("put", "instances/{slug}/", "flows_instances_update"),
    ("patch", "instances/{slug}/", "flows_instances_partial_update"),
    ("delete", "instances/{slug}/", "flows_instances_destroy"),
    ("get", "instances/{slug}/used_by/", "flows_instances_used_by_list"),
    ("get", "bindings/", "flows_bindings_list"),
    ("post", "bindings/", "flows_bindings_create"),
    ("get", "bindings/{pk}/", "flows_bindings_retrieve"),
    ("put", "bindings/{pk}/", "flows_bindings_update"),
    ("patch", "bindings/{pk}/", "flows_bindings_partial_update"),
    ("delete", "bindings/{pk}/", "flows_bindings_destroy"),
    ("get", "bindings/{pk}/used_by/", "flows_bindings_used_by_list"),
]


@pytest.mark.parametrize("method,path,operation_id", OPERATIONS, ids=[op for _, _, op in OPERATIONS])
def test_every_operation_needs_a_token(server, specs, binding, flow, method, path, operation_id):
    url = f"{server.api}/flows/{path.format(slug=flow['slug'], pk=binding['pk'])}"
    cases = [
        (server.session(), "Authentication credentials were not provided."),
        (server.session("not-a-token-" + "x" * 32), "Token invalid/expired"),
    ]
    for session, message in cases:
        response = getattr(session, method)(url, json=flow_body("noauth"))
        assert check(specs, response, operation_id, 403).json() == {"detail": message}
        assert "www-authenticate" not in response.headers


def test_missing_permission(server, specs, flow, binding, tag):
    viewer = server.session(server.create_token(VIEW_FLOW))
    response = check(specs, viewer.post(f"{server.api}/flows/instances/", json=flow_body(f"oaf-denied-{tag}")),
                     "flows_instances_create", 403)
    assert response.json() == {"detail": "You do not have permission to perform this action."}
    check(specs, viewer.get(f"{server.api}/flows/instances/{flow['slug']}/"), "flows_instances_retrieve", 200)
    check(specs, viewer.get(f"{server.api}/flows/bindings/"), "flows_bindings_list", 403)
    adder = server.session(server.create_token(ADD_FLOW))
    check(specs, adder.get(f"{server.api}/flows/instances/"), "flows_instances_list", 403)
    binding_viewer = server.session(server.create_token(VIEW_BINDING))
    body = check(specs, binding_viewer.get(f"{server.api}/flows/bindings/{binding['pk']}/"), "flows_bindings_retrieve", 200)
    assert body.json() == binding


def test_validation_can_fail(api, server, ours, flow, binding):
    """Documents without `authentication` on Flow, or with another `component` type on Stage,
    reject real responses: the validation is not vacuous."""
    changed = copy.deepcopy(ours)
    del changed["components"]["schemas"]["Flow"]["properties"]["authentication"]
    changed["components"]["schemas"]["Stage"]["properties"]["component"] = {"type": "integer"}
    spec = OpenAPI.from_dict(strict(changed))
    for url in (f"{server.api}/flows/instances/{flow['slug']}/", f"{server.api}/flows/bindings/{binding['pk']}/"):
        response = api.get(url)
        with pytest.raises(Exception, match="nvalid"):
            spec.validate_response(RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response))
