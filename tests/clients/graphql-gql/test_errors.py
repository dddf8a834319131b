"""The error codes in extensions.code, with the REST messages (spec: graphql.md, Errors)."""

import pytest

from conftest import VIEW

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
PERMISSION_DENIED = "You do not have permission to perform this action."


def stage_input(name, **extra):
    return {"name": name, "publicKey": "pub", "privateKey": "secret", **extra}


def flow_input(slug):
    return {"name": f"Flow {slug}", "slug": slug, "title": slug, "designation": "ENROLLMENT"}


def assert_bad_input(error, data, field_errors):
    assert error["message"] == "Invalid input."
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["fieldErrors"] == field_errors
    assert data is None


def test_duplicate_name(api, tag):
    api.run("CreateCaptchaStage", input=stage_input(f"dup-{tag}"))
    error, data = api.error("CreateCaptchaStage", input=stage_input(f"dup-{tag}"))
    assert_bad_input(error, data, {"name": ["stage with this name already exists."]})
    assert error["path"] == ["createCaptchaStage"]


def test_every_failing_field_at_once(api, tag):
    error, data = api.error("CreateCaptchaStage",
                            input={"name": "  ", "publicKey": "", "privateKey": "k",
                                   "flowSet": [{**flow_input(f"bad slug {tag}")}]})
    assert_bad_input(error, data, {
        "name": ["This field may not be blank."],
        "publicKey": ["This field may not be blank."],
        "flowSet": [{"slug": [
            'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.']}],
    })


def test_flow_set_errors_align_with_items(api, tag):
    api.run("CreateCaptchaStage",
            input=stage_input(f"owner-{tag}", flowSet=[flow_input(f"taken-{tag}")]))
    error, data = api.error(
        "CreateCaptchaStage",
        input=stage_input(f"aligned-{tag}",
                          flowSet=[flow_input(f"fresh-{tag}"), flow_input(f"taken-{tag}")]),
    )
    assert_bad_input(error, data, {
        "flowSet": [{}, {"slug": ["Flow with this slug already exists."]}],
    })
    # One transaction: neither the stage nor the valid item's flow was written.
    assert api.run("FlowStages", slug=f"fresh-{tag}") == {"flow": None}
    found = api.run("CaptchaStages", name=f"aligned-{tag}")["captchaStages"]
    assert found["pagination"]["count"] == 0


def test_same_slug_twice_in_one_request(api, tag):
    error, data = api.error(
        "CreateCaptchaStage",
        input=stage_input(f"twice-{tag}",
                          flowSet=[flow_input(f"twin-{tag}"), flow_input(f"twin-{tag}")]),
    )
    assert_bad_input(error, data, {
        "flowSet": [{}, {"slug": ["Flow with this slug already exists."]}],
    })


def test_update_to_a_taken_name(api, tag):
    api.run("CreateCaptchaStage", input=stage_input(f"first-{tag}"))
    second = api.run("CreateCaptchaStage", input=stage_input(f"second-{tag}"))
    second_id = second["createCaptchaStage"]["id"]
    error, data = api.error("UpdateCaptchaStage", id=second_id, input={"name": f"first-{tag}"})
    assert_bad_input(error, data, {"name": ["stage with this name already exists."]})
    # Its own name is no conflict.
    same = api.run("UpdateCaptchaStage", id=second_id, input={"name": f"second-{tag}"})
    assert same["updateCaptchaStage"]["name"] == f"second-{tag}"


@pytest.mark.parametrize("page", [0, -1, 999])
def test_invalid_page(api, tag, page):
    api.run("CreateCaptchaStage", input=stage_input(f"paged-{tag}"))
    error, data = api.error("CaptchaStages", search=f"paged-{tag}", page=page)
    assert error["message"] == "Invalid page."
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert data is None


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer", "Authentication credentials were not provided."),
        ("Basic dXNlcjpwYXNz", "Authentication credentials were not provided."),
        ("Bearer not-a-token-0123456789abcdefghijklmnop", "Token invalid/expired"),
    ],
    ids=["no-header", "bearer-without-token", "basic", "unknown-token"],
)
@pytest.mark.parametrize("operation", ["CaptchaStages", "CreateCaptchaStage"])
def test_unauthenticated(make_api, api, tag, authorization, message, operation):
    variables = {"input": stage_input(f"anon-{tag}")} if operation == "CreateCaptchaStage" else {}
    error, data = make_api(authorization).error(operation, **variables)
    assert error["message"] == message
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert data is None
    found = api.run("CaptchaStages", name=f"anon-{tag}")["captchaStages"]
    assert found["results"] == []


@pytest.fixture(scope="module")
def viewer(service, make_api):
    token = service.create_token(VIEW, name="gql-viewer")
    return make_api(f"Bearer {token}")


def test_view_token_can_read(api, viewer, tag):
    created = api.run("CreateCaptchaStage", input=stage_input(f"visible-{tag}"))
    stage_id = created["createCaptchaStage"]["id"]
    assert viewer.run("CaptchaStage", id=stage_id)["captchaStage"]["name"] == f"visible-{tag}"


def test_view_token_cannot_write(api, viewer, tag):
    created = api.run("CreateCaptchaStage", input=stage_input(f"guarded-{tag}"))
    stage_id = created["createCaptchaStage"]["id"]
    attempts = [
        ("CreateCaptchaStage", {"input": stage_input(f"viewer-made-{tag}")}),
        ("UpdateCaptchaStage", {"id": stage_id, "input": {"name": f"viewer-renamed-{tag}"}}),
        ("ReplaceCaptchaStage", {"id": stage_id, "input": stage_input(f"viewer-put-{tag}")}),
        ("DeleteCaptchaStage", {"id": stage_id}),
    ]
    for operation, variables in attempts:
        error, data = viewer.error(operation, **variables)
        assert error["message"] == PERMISSION_DENIED, operation
        assert error["extensions"]["code"] == "FORBIDDEN", operation
        assert data is None, operation
    # Nothing changed.
    assert api.run("CaptchaStage", id=stage_id)["captchaStage"]["name"] == f"guarded-{tag}"
    found = api.run("CaptchaStages", search=f"viewer-made-{tag}")["captchaStages"]
    assert found["pagination"]["count"] == 0


@pytest.mark.parametrize(
    ("operation", "variables"),
    [
        ("UpdateCaptchaStage", {"input": {"name": "nobody"}}),
        ("ReplaceCaptchaStage", {"input": stage_input("nobody")}),
        ("DeleteCaptchaStage", {}),
    ],
)
def test_mutation_on_unknown_id(api, operation, variables):
    error, data = api.error(operation, id=UNKNOWN_ID, **variables)
    assert error["message"] == "No CaptchaStage matches the given query."
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["path"] == [operation[0].lower() + operation[1:]]
    assert data is None
