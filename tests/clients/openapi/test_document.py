"""stages-api's OpenAPI document against authentik 2025.10.4's own, for `/stages/captcha/`.

Everything authentik documents for these operations must be in ours, with the same operation ids,
methods, paths, parameters, security, status codes, and request and response schemas (property
names, types, formats, required lists, readOnly/writeOnly, enums, length and pattern rules).
Ours may add only what the spec (captcha-stage-api.md, sections 6, 7.3 and 9) adds on purpose:
the 404/413/415 responses, all `{"detail": …}` bodies (GenericError).
"""

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
KEYWORDS = ("type", "format", "enum", "readOnly", "writeOnly", "minLength", "maxLength", "pattern", "nullable")


def unwrap(doc: dict, schema: dict) -> dict:
    """A schema with `$ref` followed and drf-spectacular's `allOf: [one]` wrapper opened."""
    schema = resolve(doc, schema)
    while set(schema) - {"description", "title"} == {"allOf"} and len(schema["allOf"]) == 1:
        schema = resolve(doc, schema["allOf"][0])
    return schema


def ref_name(doc: dict, schema: dict) -> str | None:
    """The component name a schema points at, through an `allOf: [one]` wrapper."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    if set(schema) - {"description", "title"} == {"allOf"} and len(schema["allOf"]) == 1:
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


def test_same_operations_paths_and_methods(ours, authentik):
    theirs = {(path, method, op["operationId"]) for path, method, op in operations(authentik)}
    mine = {(path, method, op["operationId"]) for path, method, op in operations(ours)}
    assert theirs == mine
    assert {op for _, _, op in theirs} == {
        "stages_captcha_list",
        "stages_captcha_create",
        "stages_captcha_retrieve",
        "stages_captcha_update",
        "stages_captcha_partial_update",
        "stages_captcha_destroy",
        "stages_captcha_used_by_list",
    }
    assert [s["url"] for s in ours["servers"]] == [s["url"] for s in authentik["servers"]] == ["/api/v3"]


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
    assert not problems, "\n".join(problems)


def test_parameters_match(ours, authentik):
    problems = []
    mine = by_operation_id(ours)
    for operation_id, (_, _, their_op) in by_operation_id(authentik).items():
        theirs, ours_params = parameters(authentik, their_op), parameters(ours, mine[operation_id][2])
        if set(theirs) != set(ours_params):
            problems.append(f"{operation_id}: parameters ours {sorted(ours_params)}, authentik {sorted(theirs)}")
            continue
        for key, their_param in theirs.items():
            our_param = ours_params[key]
            if bool(their_param.get("required")) != bool(our_param.get("required")):
                problems.append(f"{operation_id} {key}: required differs")
            compare_schemas(authentik, their_param["schema"], ours, our_param["schema"], f"{operation_id} {key}", problems)
    assert not problems, "\n".join(problems)


def test_request_bodies_match(ours, authentik):
    problems = []
    mine = by_operation_id(ours)
    for operation_id, (_, _, their_op) in by_operation_id(authentik).items():
        our_op = mine[operation_id][2]
        if ("requestBody" in their_op) != ("requestBody" in our_op):
            problems.append(f"{operation_id}: request body on one side only")
            continue
        if "requestBody" not in their_op:
            continue
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
    assert not problems, "\n".join(problems)


def test_responses_match(ours, authentik):
    problems = []
    mine = by_operation_id(ours)
    for operation_id, (_, _, their_op) in by_operation_id(authentik).items():
        our_responses = mine[operation_id][2]["responses"]
        their_responses = their_op["responses"]
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
    assert not problems, "\n".join(problems)


def test_comparison_catches_a_difference(ours, authentik):
    """The comparison itself can fail: a changed copy of ours is reported."""
    import copy

    changed = copy.deepcopy(ours)
    stage = changed["components"]["schemas"]["CaptchaStageRequest"]
    stage["required"].remove("private_key")
    stage["properties"]["private_key"].pop("writeOnly")
    changed["components"]["schemas"]["FlowLayoutEnum"]["enum"].pop()
    problems: list[str] = []
    for name in ("CaptchaStageRequest", "FlowSet"):
        ref = {"$ref": f"#/components/schemas/{name}"}
        compare_schemas(authentik, ref, changed, ref, name, problems)
    joined = "\n".join(problems)
    assert "CaptchaStageRequest.required" in joined
    assert "CaptchaStageRequest.private_key.writeOnly" in joined
    assert "FlowSet.layout.enum" in joined
