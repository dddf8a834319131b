"""stages-api's OpenAPI document against authentik 2025.10.4's own, for the operations it serves:
`/stages/captcha/`, and the base CRUD and used_by of `/flows/instances/` and `/flows/bindings/`.

Everything authentik documents for these operations must be in ours, with the same operation ids,
methods, paths, parameters, security, status codes, and request and response schemas (property
names, types, formats, required lists, readOnly/writeOnly, enums, length and pattern rules).
Ours may add only what the spec (captcha-stage-api.md, sections 6, 7.3 and 9) adds on purpose:
the 404/413/415 responses, all `{"detail": …}` bodies (GenericError).
"""

import re

import pytest
import requests
from openapi_spec_validator import validate

import documents
from documents import NAMED_SCHEMAS, operations, resolve

# Statuses ours documents beyond authentik's: unknown id / non-UUID segment / invalid page (404,
# which authentik also answers but leaves out of its document), body over the limit (413, section
# 9), body not JSON (415, section 7.3). Each is a GenericError.
ADDED_STATUSES = {"404", "413", "415"}

# Schema keywords compared one by one (descriptions, titles and examples are prose).
KEYWORDS = (
    "type", "format", "enum", "readOnly", "writeOnly", "minLength", "maxLength", "pattern", "nullable",
    "minimum", "maximum",
)
# Keys a drf-spectacular `allOf: [one]` wrapper may carry beside the reference: prose, and flags
# that apply to the property (`stage_obj: {allOf: [Stage], readOnly: true}`).
WRAPPER_PROSE = {"description", "title"}
WRAPPER_FLAGS = {"readOnly", "writeOnly", "nullable"}

# Differences of ours from authentik's document that are service bugs, reported and not yet
# fixed: (pattern of the problem line, one-line reason). A test whose only problems match these
# is an expected failure (xfail) with the reasons; any other problem fails it. Once fixed, the
# test passes.
KNOWN_DIVERGENCES: tuple[tuple[str, str], ...] = ()


def judge(problems: list[str]) -> None:
    """Fails on any problem not known; xfails (with the reasons) when only known ones remain."""
    unknown = [p for p in problems if not any(re.search(pattern, p) for pattern, _ in KNOWN_DIVERGENCES)]
    assert not unknown, "\n".join(unknown)
    reasons = sorted({reason for pattern, reason in KNOWN_DIVERGENCES if any(re.search(pattern, p) for p in problems)})
    if reasons:
        pytest.xfail("service bug: " + " | ".join(reasons))


def is_wrapper(schema: dict) -> bool:
    return (
        "$ref" not in schema
        and set(schema) - WRAPPER_PROSE - WRAPPER_FLAGS == {"allOf"}
        and len(schema["allOf"]) == 1
    )


def unwrap(doc: dict, schema: dict) -> dict:
    """A schema with `$ref` followed and drf-spectacular's `allOf: [one]` wrapper opened; the
    wrapper's flags (readOnly, ...) stay on the result. (Beside a `$ref`, OpenAPI 3.0 ignores
    every other key, so a bare `$ref` carries no flag.)"""
    flags = {}
    while True:
        if is_wrapper(schema):
            flags.update({key: schema[key] for key in WRAPPER_FLAGS & set(schema)})
            schema = schema["allOf"][0]
        elif "$ref" in schema:
            schema = resolve(doc, {"$ref": schema["$ref"]})
        else:
            return {**schema, **flags}


def ref_name(doc: dict, schema: dict) -> str | None:
    """The component name a schema points at, through an `allOf: [one]` wrapper."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    if is_wrapper(schema):
        return ref_name(doc, schema["allOf"][0])
    return None


def compare_schemas(theirs_doc, theirs, ours_doc, ours, where: str, problems: list[str]) -> None:
    their_name, our_name = ref_name(theirs_doc, theirs), ref_name(ours_doc, ours)
    if their_name != our_name:
        problems.append(f"{where}: refers to {our_name!r}, authentik to {their_name!r}")
    theirs, ours = unwrap(theirs_doc, theirs), unwrap(ours_doc, ours)
    for keyword in KEYWORDS:
        if theirs.get(keyword) != ours.get(keyword):
            problems.append(f"{where}.{keyword}: ours {ours.get(keyword)!r}, authentik {theirs.get(keyword)!r}")
    if set(theirs.get("required", [])) != set(ours.get("required", [])):
        problems.append(
            f"{where}.required: ours {sorted(ours.get('required', []))}, "
            f"authentik {sorted(theirs.get('required', []))}"
        )
    their_props, our_props = theirs.get("properties", {}), ours.get("properties", {})
    if set(their_props) != set(our_props):
        problems.append(f"{where}.properties: ours {sorted(our_props)}, authentik {sorted(their_props)}")
    for name in their_props.keys() & our_props.keys():
        compare_schemas(theirs_doc, their_props[name], ours_doc, our_props[name], f"{where}.{name}", problems)
    if "items" in theirs or "items" in ours:
        if "items" not in theirs or "items" not in ours:
            problems.append(f"{where}.items: present on one side only")
        else:
            compare_schemas(theirs_doc, theirs["items"], ours_doc, ours["items"], f"{where}[]", problems)
    # `{}` and `true` both allow any further key.
    their_extra, our_extra = theirs.get("additionalProperties"), ours.get("additionalProperties")
    if (their_extra in ({}, True)) != (our_extra in ({}, True)):
        problems.append(f"{where}.additionalProperties: ours {our_extra!r}, authentik {their_extra!r}")


def by_operation_id(doc: dict) -> dict[str, tuple[str, str, dict]]:
    return {op["operationId"]: (path, method, op) for path, method, op in operations(doc)}


def parameters(doc: dict, operation: dict) -> dict[tuple[str, str], dict]:
    found = {}
    for parameter in operation.get("parameters", []):
        parameter = resolve(doc, parameter)
        found[(parameter["in"], parameter["name"])] = parameter
    return found


def test_documents_are_valid_openapi(ours, authentik):
    validate(ours)
    validate(authentik)
    assert ours["openapi"].startswith("3.")


def test_served_document_is_the_checked_in_one(server, ours):
    response = requests.get(f"{server.api}/schema/", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == ours
    # Without the trailing slash too, and no token needed for either.
    assert requests.get(f"{server.api}/schema", timeout=10).json() == ours


SERVED_OPERATIONS = tuple(
    f"{resource}_{action}"
    for resource in ("stages_captcha", "flows_instances", "flows_bindings")
    for action in ("list", "create", "retrieve", "update", "partial_update", "destroy", "used_by_list")
)


# The flow executor is served and documented too, with authentik's operation ids, but it is not
# part of the cut-down comparison: authentik's `ChallengeTypes` names all 29 of its challenge
# kinds, and this service answers three of them (the executor's own suite checks its answers
# with authentik's clients).
EXECUTOR_OPERATIONS = {
    ("/flows/executor/{flow_slug}/", "get", "flows_executor_get"),
    ("/flows/executor/{flow_slug}/", "post", "flows_executor_solve"),
}


def test_same_operations_paths_and_methods(ours, authentik):
    theirs = {(path, method, op["operationId"]) for path, method, op in operations(authentik)}
    mine = {(path, method, op["operationId"]) for path, method, op in operations(ours)}
    assert theirs == mine - EXECUTOR_OPERATIONS
    assert EXECUTOR_OPERATIONS <= mine
    full = {(path, method, op["operationId"]) for path, method, op in operations(documents.load_authentik_full())}
    assert EXECUTOR_OPERATIONS <= full
    assert {op for _, _, op in theirs} == set(SERVED_OPERATIONS)
    assert [s["url"] for s in ours["servers"]] == [s["url"] for s in authentik["servers"]] == ["/api/v3"]


def test_unserved_flows_operations_are_left_out(ours, authentik):
    """authentik's other flows operations are in its full document, not in the cut-down one nor
    in ours."""
    full = {op["operationId"] for _, _, op in operations(documents.load_authentik_full())}
    for operation_id in (
        "flows_instances_import_create",
        "flows_instances_export_retrieve",
        "flows_instances_diagram_retrieve",
        "flows_instances_execute_retrieve",
        "flows_instances_cache_info_retrieve",
        "flows_instances_cache_clear_create",
        "flows_instances_set_background_create",
    ):
        assert operation_id in full
        assert operation_id not in by_operation_id(authentik)
        assert operation_id not in by_operation_id(ours)


def test_security_scheme_and_requirements(ours, authentik):
    assert ours["components"]["securitySchemes"] == authentik["components"]["securitySchemes"]
    assert ours["components"]["securitySchemes"]["authentik"] == {"type": "http", "scheme": "bearer"}
    theirs, mine = by_operation_id(authentik), by_operation_id(ours)
    for operation_id, (_, _, their_op) in theirs.items():
        assert mine[operation_id][2]["security"] == their_op["security"], operation_id


@pytest.mark.parametrize("schema", NAMED_SCHEMAS)
def test_named_schemas_match(ours, authentik, schema):
    assert schema in authentik["components"]["schemas"], f"authentik has no {schema}"
    assert schema in ours["components"]["schemas"], f"ours has no {schema}"
    problems: list[str] = []
    compare_schemas(
        authentik,
        {"$ref": f"#/components/schemas/{schema}"},
        ours,
        {"$ref": f"#/components/schemas/{schema}"},
        schema,
        problems,
    )
    judge(problems)


def parameter_problems(ours: dict, authentik: dict, operation_id: str) -> list[str]:
    problems = []
    their_op, our_op = by_operation_id(authentik)[operation_id][2], by_operation_id(ours)[operation_id][2]
    theirs, ours_params = parameters(authentik, their_op), parameters(ours, our_op)
    if set(theirs) != set(ours_params):
        problems.append(
            f"{operation_id}: parameters only in ours {sorted(set(ours_params) - set(theirs))}, "
            f"only in authentik {sorted(set(theirs) - set(ours_params))}"
        )
    for key in theirs.keys() & ours_params.keys():
        their_param, our_param = theirs[key], ours_params[key]
        if bool(their_param.get("required")) != bool(our_param.get("required")):
            problems.append(f"{operation_id} {key}: required differs")
        compare_schemas(authentik, their_param["schema"], ours, our_param["schema"], f"{operation_id} {key}", problems)
    return problems


@pytest.mark.parametrize("operation_id", SERVED_OPERATIONS)
def test_parameters_match(ours, authentik, operation_id):
    judge(parameter_problems(ours, authentik, operation_id))


@pytest.mark.parametrize("operation_id", SERVED_OPERATIONS)
def test_request_bodies_match(ours, authentik, operation_id):
    problems = []
    their_op, our_op = by_operation_id(authentik)[operation_id][2], by_operation_id(ours)[operation_id][2]
    assert ("requestBody" in their_op) == ("requestBody" in our_op), "request body on one side only"
    if "requestBody" not in their_op:
        return
    their_body, our_body = resolve(authentik, their_op["requestBody"]), resolve(ours, our_op["requestBody"])
    if bool(their_body.get("required")) != bool(our_body.get("required")):
        problems.append(f"{operation_id}: body required ours {our_body.get('required')}, authentik {their_body.get('required')}")
    # authentik's document lists only JSON; its server also takes forms, this one only JSON.
    for media, content in their_body["content"].items():
        if media not in our_body["content"]:
            problems.append(f"{operation_id}: no {media} request body")
            continue
        compare_schemas(
            authentik, content["schema"], ours, our_body["content"][media]["schema"], f"{operation_id} body", problems
        )
    judge(problems)


@pytest.mark.parametrize("operation_id", SERVED_OPERATIONS)
def test_responses_match(ours, authentik, operation_id):
    problems = []
    their_op, our_op = by_operation_id(authentik)[operation_id][2], by_operation_id(ours)[operation_id][2]
    our_responses, their_responses = our_op["responses"], their_op["responses"]
    missing = set(their_responses) - set(our_responses)
    if missing:
        problems.append(f"{operation_id}: statuses {sorted(missing)} missing")
    extra = set(our_responses) - set(their_responses)
    if not extra <= ADDED_STATUSES:
        problems.append(f"{operation_id}: statuses {sorted(extra - ADDED_STATUSES)} beyond the spec's additions")
    for status in extra & ADDED_STATUSES:
        schema = resolve(ours, our_responses[status])["content"]["application/json"]["schema"]
        if schema != {"$ref": "#/components/schemas/GenericError"}:
            problems.append(f"{operation_id} {status}: not a GenericError")
    for status in set(their_responses) & set(our_responses):
        their_response = resolve(authentik, their_responses[status])
        our_response = resolve(ours, our_responses[status])
        their_content, our_content = their_response.get("content", {}), our_response.get("content", {})
        if set(their_content) != set(our_content):
            problems.append(f"{operation_id} {status}: media types ours {sorted(our_content)}, authentik {sorted(their_content)}")
            continue
        for media in their_content:
            compare_schemas(
                authentik,
                their_content[media]["schema"],
                ours,
                our_content[media]["schema"],
                f"{operation_id} {status}",
                problems,
            )
    judge(problems)


def test_comparison_catches_a_difference(ours, authentik):
    """The comparison itself can fail: a changed copy of ours is reported."""
    import copy

    changed = copy.deepcopy(ours)
    stage = changed["components"]["schemas"]["CaptchaStageRequest"]
    stage["required"].remove("private_key")
    stage["properties"]["private_key"].pop("writeOnly")
    changed["components"]["schemas"]["FlowLayoutEnum"]["enum"].pop()
    binding = changed["components"]["schemas"]["FlowStageBindingRequest"]
    binding["required"].remove("target")
    changed["components"]["schemas"]["InvalidResponseActionEnum"]["enum"].reverse()
    changed["components"]["schemas"]["Flow"]["properties"]["authentication"] = {"type": "string"}
    problems: list[str] = []
    for name in ("CaptchaStageRequest", "FlowSet", "FlowStageBindingRequest", "Flow"):
        ref = {"$ref": f"#/components/schemas/{name}"}
        compare_schemas(authentik, ref, changed, ref, name, problems)
    joined = "\n".join(problems)
    assert "CaptchaStageRequest.required" in joined
    assert "CaptchaStageRequest.private_key.writeOnly" in joined
    assert "FlowSet.layout.enum" in joined
    assert "FlowStageBindingRequest.required" in joined
    assert "FlowStageBindingRequest.invalid_response_action.enum" in joined
    assert "Flow.authentication: refers to None, authentik to 'AuthenticationEnum'" in joined
    # None of these is excused as a known divergence.
    with pytest.raises(AssertionError):
        judge(problems)


def test_wrapper_flags_are_compared(authentik):
    """A `$ref` where authentik has `allOf: [ref]` with readOnly loses the flag: reported."""
    ours_like = {"$ref": "#/components/schemas/Stage"}
    theirs = {"allOf": [{"$ref": "#/components/schemas/Stage"}], "readOnly": True}
    problems: list[str] = []
    compare_schemas(authentik, theirs, authentik, ours_like, "x", problems)
    assert problems == ["x.readOnly: ours None, authentik True"]
    problems = []
    compare_schemas(authentik, theirs, authentik, dict(theirs), "x", problems)
    assert problems == []
