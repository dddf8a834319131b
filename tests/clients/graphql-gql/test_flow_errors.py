"""Errors of the flow and binding operations in extensions.code, with REST's messages and, for
validation, REST's error map under extensions.fieldErrors with GraphQL's (camelCase) names."""

import uuid

import pytest

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
PERMISSION_DENIED = "You do not have permission to perform this action."
VIEW_FLOW = "authentik_flows.view_flow"
VIEW_BINDING = "authentik_flows.view_flowstagebinding"
VIEW_STAGE = "authentik_stages_captcha.view_captchastage"


def flow_input(slug, **extra):
    return {"name": f"Flow {slug}", "slug": slug, "title": slug, "designation": "RECOVERY", **extra}


def create_flow(api, slug):
    return api.run("CreateFlow", input=flow_input(slug))["createFlow"]


def create_stage(api, name):
    stage_input = {"name": name, "publicKey": "pub", "privateKey": "secret"}
    return api.run("CreateCaptchaStage", input=stage_input)["createCaptchaStage"]


def assert_bad_input(error, data, field_errors):
    assert error["message"] == "Invalid input."
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["fieldErrors"] == field_errors
    assert data is None


# --- BAD_USER_INPUT -----------------------------------------------------------------------------


def test_duplicate_slug(api, tag):
    create_flow(api, f"gdup-{tag}")
    error, data = api.error("CreateFlow", input=flow_input(f"gdup-{tag}"))
    assert_bad_input(error, data, {"slug": ["Flow with this slug already exists."]})
    assert error["path"] == ["createFlow"]
    other = create_flow(api, f"gdup2-{tag}")
    for operation, variables in [
        ("UpdateFlow", {"slug": f"gdup2-{tag}", "input": {"slug": f"gdup-{tag}"}}),
        ("ReplaceFlow", {"slug": f"gdup2-{tag}", "input": flow_input(f"gdup-{tag}")}),
    ]:
        error, data = api.error(operation, **variables)
        assert_bad_input(error, data, {"slug": ["Flow with this slug already exists."]})
    assert api.run("Flow", slug=f"gdup2-{tag}")["flow"]["id"] == other["id"]


def test_every_failing_field_at_once(api, tag):
    error, data = api.error("CreateFlow", input={
        "name": " ", "slug": f"bad slug {tag}", "title": "", "designation": "RECOVERY"})
    assert_bad_input(error, data, {
        "name": ["This field may not be blank."],
        "slug": ['Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'],
        "title": ["This field may not be blank."],
    })
    error, data = api.error("CreateFlow", input=flow_input("s" * 51))
    assert_bad_input(error, data, {"slug": ["Ensure this field has no more than 50 characters."]})


def test_flow_needs_exactly_one_of_slug_and_id(api, tag):
    flow = create_flow(api, f"gone-{tag}")
    for variables in ({}, {"slug": f"gone-{tag}", "id": flow["id"]}):
        error, data = api.error("Flow", **variables)
        assert_bad_input(error, data, {"nonFieldErrors": ["Give exactly one of slug and id."]})


def test_binding_unknown_target_and_stage(api, tag):
    flow = create_flow(api, f"gref-{tag}")
    stage = create_stage(api, f"gref-{tag}")
    ghost_flow, ghost_stage = str(uuid.uuid4()), str(uuid.uuid4())
    error, data = api.error("CreateFlowStageBinding",
                            input={"target": ghost_flow, "stage": ghost_stage, "order": 1})
    assert_bad_input(error, data, {
        "target": [f'Invalid pk "{ghost_flow}" - object does not exist.'],
        "stage": [f'Invalid pk "{ghost_stage}" - object does not exist.'],
    })
    binding = api.run("CreateFlowStageBinding", input={
        "target": flow["id"], "stage": stage["id"], "order": 1})["createFlowStageBinding"]
    error, data = api.error("UpdateFlowStageBinding", id=binding["id"], input={"stage": ghost_stage})
    assert_bad_input(error, data, {"stage": [f'Invalid pk "{ghost_stage}" - object does not exist.']})
    assert api.run("FlowStageBinding", id=binding["id"])["flowStageBinding"]["stage"]["id"] == stage["id"]


def test_binding_not_a_unique_set_is_non_field_errors_in_camel_case(api, tag):
    flow = create_flow(api, f"guniq-{tag}")
    stage = create_stage(api, f"guniq-{tag}")
    binding_input = {"target": flow["id"], "stage": stage["id"], "order": 1}
    api.run("CreateFlowStageBinding", input=binding_input)
    error, data = api.error("CreateFlowStageBinding", input=binding_input)
    assert_bad_input(error, data, {
        "nonFieldErrors": ["The fields target, stage, order must make a unique set."]})
    second = api.run("CreateFlowStageBinding", input={**binding_input, "order": 2})
    error, data = api.error("UpdateFlowStageBinding", id=second["createFlowStageBinding"]["id"],
                            input={"order": 1})
    assert_bad_input(error, data, {
        "nonFieldErrors": ["The fields target, stage, order must make a unique set."]})


@pytest.mark.parametrize(("operation", "page"), [
    ("Flows", 0), ("Flows", -1), ("Flows", 3), ("FlowStageBindings", 0), ("FlowStageBindings", 2),
])
def test_invalid_page(api, tag, operation, page):
    # One flow and no binding match the tag: page 1 is the only page of either list.
    create_flow(api, f"gpage-{tag}")
    assert api.run(operation, search=tag, page=1) is not None
    error, data = api.error(operation, search=tag, page=page)
    assert error["message"] == "Invalid page."
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert data is None


# --- UNAUTHENTICATED / FORBIDDEN ----------------------------------------------------------------


@pytest.mark.parametrize("operation", ["Flows", "FlowStageBindings", "CreateFlow"])
def test_unauthenticated(make_api, api, tag, operation):
    variables = {"input": flow_input(f"ganon-{tag}")} if operation == "CreateFlow" else {}
    error, data = make_api(None).error(operation, **variables)
    assert error["message"] == "Authentication credentials were not provided."
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert data is None
    assert api.run("Flow", slug=f"ganon-{tag}") == {"flow": None}


@pytest.fixture(scope="module")
def flow_viewer(service, make_api):
    """May view flows and (for Flow.stages) captcha stages; nothing else."""
    token = service.create_token(VIEW_FLOW, VIEW_STAGE, name="gql-flow-viewer")
    return make_api(f"Bearer {token}")


@pytest.fixture(scope="module")
def binding_viewer(service, make_api):
    return make_api(f"Bearer {service.create_token(VIEW_BINDING, name='gql-binding-viewer')}")


def test_flow_viewer_reads_flows_and_writes_nothing(api, flow_viewer, tag):
    flow = create_flow(api, f"gguard-{tag}")
    stage = create_stage(api, f"gguard-{tag}")
    binding = api.run("CreateFlowStageBinding", input={
        "target": flow["id"], "stage": stage["id"], "order": 1})["createFlowStageBinding"]
    got = flow_viewer.run("Flows", slug=f"gguard-{tag}")["flows"]["results"]
    assert [f["id"] for f in got] == [flow["id"]]
    attempts = [
        ("CreateFlow", {"input": flow_input(f"gviewer-{tag}")}),
        ("UpdateFlow", {"slug": f"gguard-{tag}", "input": {"title": "no"}}),
        ("ReplaceFlow", {"slug": f"gguard-{tag}", "input": flow_input(f"gguard-{tag}")}),
        ("DeleteFlow", {"slug": f"gguard-{tag}"}),
        ("FlowStageBinding", {"id": binding["id"]}),
        ("FlowStageBindings", {}),
        ("CreateFlowStageBinding", {"input": {"target": flow["id"], "stage": stage["id"], "order": 2}}),
        ("UpdateFlowStageBinding", {"id": binding["id"], "input": {"order": 3}}),
        ("DeleteFlowStageBinding", {"id": binding["id"]}),
    ]
    for operation, variables in attempts:
        error, data = flow_viewer.error(operation, **variables)
        assert error["message"] == PERMISSION_DENIED, operation
        assert error["extensions"]["code"] == "FORBIDDEN", operation
        assert data is None, operation
    # Nothing changed.
    assert api.run("Flow", slug=f"gguard-{tag}")["flow"]["title"] == f"gguard-{tag}"
    assert api.run("Flow", slug=f"gviewer-{tag}") == {"flow": None}
    assert [b["order"] for b in api.run("FlowStageBindings", target=flow["id"])["flowStageBindings"]["results"]] == [1]


def test_binding_viewer_reads_bindings_not_flows(api, binding_viewer, tag):
    flow = create_flow(api, f"gbv-{tag}")
    stage = create_stage(api, f"gbv-{tag}")
    binding = api.run("CreateFlowStageBinding", input={
        "target": flow["id"], "stage": stage["id"], "order": 1})["createFlowStageBinding"]
    got = binding_viewer.run("FlowStageBindings", target=flow["id"])["flowStageBindings"]["results"]
    assert [b["id"] for b in got] == [binding["id"]]
    error, data = binding_viewer.error("Flows", slug=f"gbv-{tag}")
    assert (error["message"], error["extensions"]["code"], data) == (PERMISSION_DENIED, "FORBIDDEN", None)


# --- NOT_FOUND ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "variables"),
    [
        ("UpdateFlow", {"input": {"title": "nobody"}}),
        ("ReplaceFlow", {"input": flow_input("nobody-at-all")}),
        ("DeleteFlow", {}),
    ],
)
def test_flow_mutation_on_unknown_slug(api, tag, operation, variables):
    error, data = api.error(operation, slug=f"gnobody-{tag}", **variables)
    assert error["message"] == "No Flow matches the given query."
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["path"] == [operation[0].lower() + operation[1:]]
    assert data is None
    assert api.run("Flow", slug="nobody-at-all") == {"flow": None}


@pytest.mark.parametrize(
    ("operation", "variables"),
    [
        ("UpdateFlowStageBinding", {"input": {"order": 1}}),
        ("DeleteFlowStageBinding", {}),
    ],
)
def test_binding_mutation_on_unknown_id(api, operation, variables):
    error, data = api.error(operation, id=UNKNOWN_ID, **variables)
    assert error["message"] == "No FlowStageBinding matches the given query."
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["path"] == [operation[0].lower() + operation[1:]]
    assert data is None
