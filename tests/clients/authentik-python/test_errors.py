"""Error paths as the generated client sees them: ApiException with status and body
(spec sections 6, 7 and 8)."""

import uuid

import pytest
from authentik_client import CaptchaStageRequest, PatchedCaptchaStageRequest
from authentik_client.exceptions import ApiException

from helpers import ADD, ALL_PERMISSIONS, CHANGE, DELETE, VIEW, error_body, flow, make_api, new_stage


def raises(status: int, call, *args, **kwargs) -> ApiException:
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    assert caught.value.status == status, caught.value.body
    return caught.value


# --- 400 ---------------------------------------------------------------------------------------


def test_duplicate_name_on_create(api, tag):
    new_stage(api, f"dup-{tag}")
    exc = raises(400, new_stage, api, f"dup-{tag}")
    assert error_body(exc) == {"name": ["stage with this name already exists."]}


def test_duplicate_name_on_update_and_patch(api, tag):
    new_stage(api, f"dup-a-{tag}")
    other = new_stage(api, f"dup-b-{tag}")
    exc = raises(
        400, api.stages_captcha_update, str(other.pk),
        CaptchaStageRequest(name=f"dup-a-{tag}", public_key="p", private_key="s"),
    )
    assert error_body(exc) == {"name": ["stage with this name already exists."]}
    exc = raises(
        400, api.stages_captcha_partial_update, str(other.pk),
        PatchedCaptchaStageRequest(name=f"dup-a-{tag}"),
    )
    assert error_body(exc) == {"name": ["stage with this name already exists."]}
    assert api.stages_captcha_retrieve(str(other.pk)).name == f"dup-b-{tag}"


def test_blank_fields_are_all_reported(api, tag):
    # The client checks min_length=1 itself; whitespace passes it and reaches the server.
    exc = raises(
        400, api.stages_captcha_create,
        CaptchaStageRequest(name="   ", public_key=" ", private_key="\t", js_url="  "),
    )
    assert error_body(exc) == {
        "name": ["This field may not be blank."],
        "public_key": ["This field may not be blank."],
        "private_key": ["This field may not be blank."],
        "js_url": ["This field may not be blank."],
    }


def test_flow_set_duplicate_slug_in_one_request_writes_nothing(api, tag):
    exc = raises(
        400, new_stage, api, f"fs-dup-{tag}",
        flow_set=[flow(f"fs-dup-{tag}"), flow(f"fs-dup-{tag}")],
    )
    assert error_body(exc) == {"flow_set": [{}, {"slug": ["Flow with this slug already exists."]}]}
    # Nothing was written: neither the stage nor the first flow.
    assert api.stages_captcha_list(name=f"fs-dup-{tag}").results == []
    stage = new_stage(api, f"fs-dup-{tag}", flow_set=[flow(f"fs-dup-{tag}")])
    assert [f.slug for f in stage.flow_set] == [f"fs-dup-{tag}"]


def test_patch_flow_set_with_slug_of_unbound_flow(api, tag):
    new_stage(api, f"owner-{tag}", flow_set=[flow(f"owned-{tag}")])
    other = new_stage(api, f"intruder-{tag}")
    exc = raises(
        400, api.stages_captcha_partial_update, str(other.pk),
        PatchedCaptchaStageRequest(name=f"intruder-renamed-{tag}", flow_set=[flow(f"owned-{tag}")]),
    )
    assert error_body(exc) == {"flow_set": [{"slug": ["Flow with this slug already exists."]}]}
    # One transaction: the rename in the same request did not happen either.
    assert api.stages_captcha_retrieve(str(other.pk)).name == f"intruder-{tag}"


# --- 403 ---------------------------------------------------------------------------------------


def test_no_token(server, api, tag):
    stage = new_stage(api, f"noauth-{tag}")
    anonymous = make_api(server, None)
    for call, args in [
        (anonymous.stages_captcha_list, ()),
        (anonymous.stages_captcha_retrieve, (str(stage.pk),)),
        (anonymous.stages_captcha_create,
         (CaptchaStageRequest(name=f"noauth-new-{tag}", public_key="p", private_key="s"),)),
        (anonymous.stages_captcha_destroy, (str(stage.pk),)),
    ]:
        exc = raises(403, call, *args)
        assert error_body(exc) == {"detail": "Authentication credentials were not provided."}
        assert "www-authenticate" not in {k.lower() for k in (exc.headers or {})}
    assert api.stages_captcha_retrieve(str(stage.pk)).name == f"noauth-{tag}"


def test_bad_token(server):
    bad = make_api(server, "not-a-real-token-" + uuid.uuid4().hex)
    exc = raises(403, bad.stages_captcha_list)
    assert error_body(exc) == {"detail": "Token invalid/expired"}
    assert "www-authenticate" not in {k.lower() for k in (exc.headers or {})}


OPERATIONS = {
    "list": VIEW,
    "retrieve": VIEW,
    "used_by": VIEW,
    "create": ADD,
    "update": CHANGE,
    "partial_update": CHANGE,
    "destroy": DELETE,
}


def perform(client, operation: str, stage_pk: str, tag: str):
    if operation == "list":
        return client.stages_captcha_list()
    if operation == "retrieve":
        return client.stages_captcha_retrieve(stage_pk)
    if operation == "used_by":
        return client.stages_captcha_used_by_list(stage_pk)
    if operation == "create":
        return client.stages_captcha_create(
            CaptchaStageRequest(name=f"perm-new-{tag}", public_key="p", private_key="s")
        )
    if operation == "update":
        return client.stages_captcha_update(
            stage_pk, CaptchaStageRequest(name=f"perm-{tag}", public_key="p2", private_key="s2")
        )
    if operation == "partial_update":
        return client.stages_captcha_partial_update(
            stage_pk, PatchedCaptchaStageRequest(public_key="p3")
        )
    if operation == "destroy":
        return client.stages_captcha_destroy(stage_pk)
    raise AssertionError(operation)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_token_lacking_the_permission(server, api, tag, operation):
    needed = OPERATIONS[operation]
    stage = new_stage(api, f"perm-{tag}")
    lacking = make_api(server, server.create_token(*(p for p in ALL_PERMISSIONS if p != needed)))
    exc = raises(403, perform, lacking, operation, str(stage.pk), tag)
    assert error_body(exc) == {"detail": "You do not have permission to perform this action."}
    # Nothing changed.
    unchanged = api.stages_captcha_retrieve(str(stage.pk))
    assert unchanged == stage
    assert api.stages_captcha_list(name=f"perm-new-{tag}").results == []

    # The same request with exactly the needed permission succeeds.
    holding = make_api(server, server.create_token(needed))
    perform(holding, operation, str(stage.pk), tag)


def test_token_created_while_server_runs_with_view_only(server, api, tag):
    new_stage(api, f"viewer-{tag}")
    viewer = make_api(server, server.create_token(VIEW))
    assert [s.name for s in viewer.stages_captcha_list(name=f"viewer-{tag}").results] == [
        f"viewer-{tag}"
    ]
    exc = raises(403, new_stage, viewer, f"viewer-new-{tag}")
    assert error_body(exc) == {"detail": "You do not have permission to perform this action."}


# --- 404 ---------------------------------------------------------------------------------------


def test_unknown_uuid_is_404_everywhere(api):
    missing = str(uuid.uuid4())
    not_found = {"detail": "No CaptchaStage matches the given query."}
    for call, args in [
        (api.stages_captcha_retrieve, (missing,)),
        (api.stages_captcha_update,
         (missing, CaptchaStageRequest(name=f"ghost-{missing}", public_key="p", private_key="s"))),
        (api.stages_captcha_partial_update, (missing, PatchedCaptchaStageRequest(public_key="p"))),
        (api.stages_captcha_destroy, (missing,)),
        (api.stages_captcha_used_by_list, (missing,)),
    ]:
        exc = raises(404, call, *args)
        assert error_body(exc) == not_found, call.__name__
    # PUT does not upsert.
    assert api.stages_captcha_list(name=f"ghost-{missing}").results == []


# A path segment that is not a UUID (spec: 404 `Not found.`) cannot be sent through this client:
# StagesApi validates stage_uuid as a UUID before any request is made.
