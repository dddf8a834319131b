"""Retrieve, PUT, PATCH, DELETE and used_by on /api/v3/stages/captcha/{uuid}/ through the
generated StagesApi (spec sections 2.1, 4 and 6)."""

import json
import uuid

import pytest
from authentik_client import CaptchaStageRequest, FlowSetRequest, PatchedCaptchaStageRequest
from authentik_client.exceptions import ApiException

from helpers import DEFAULT_API_URL, DEFAULT_JS_URL, STAGE_KEYS, error_body, flow, new_stage


def test_retrieve_returns_what_create_returned(api, tag):
    created = new_stage(api, f"get-{tag}", flow_set=[flow(f"get-{tag}")])
    response = api.stages_captcha_retrieve_with_http_info(str(created.pk))
    assert response.status_code == 200
    assert response.data == created
    raw = json.loads(response.raw_data)
    assert list(raw) == STAGE_KEYS
    assert "private_key" not in raw


def test_put_replaces_fields(api, server, tag):
    created = new_stage(api, f"put-{tag}", private_key="old-secret")
    response = api.stages_captcha_update_with_http_info(
        str(created.pk),
        CaptchaStageRequest(
            name=f"put-renamed-{tag}",
            public_key="new-public",
            private_key="new-secret",
            js_url="https://captcha.example/new.js",
            interactive=True,
            score_max_threshold=0.9,
        ),
    )
    assert response.status_code == 200
    updated = response.data
    assert updated.pk == created.pk
    assert updated.name == f"put-renamed-{tag}"
    assert updated.public_key == "new-public"
    assert updated.js_url == "https://captcha.example/new.js"
    assert updated.interactive is True
    assert updated.score_max_threshold == 0.9
    # Optional keys absent from a PUT keep their stored values.
    assert updated.api_url == DEFAULT_API_URL
    assert updated.score_min_threshold == 0.5
    assert updated.error_on_invalid_score is True
    assert b"new-secret" not in response.raw_data
    assert "private_key" not in json.loads(response.raw_data)
    assert server.stored_private_key(f"put-renamed-{tag}") == "new-secret"
    assert api.stages_captcha_retrieve(str(created.pk)) == updated


def test_put_keeps_own_name(api, tag):
    created = new_stage(api, f"put-same-{tag}")
    updated = api.stages_captcha_update(
        str(created.pk),
        CaptchaStageRequest(name=f"put-same-{tag}", public_key="p2", private_key="s2"),
    )
    assert updated.name == f"put-same-{tag}"
    assert updated.public_key == "p2"


def test_put_back_what_get_returned_changes_nothing(api, server, tag):
    created = new_stage(
        api, f"roundtrip-{tag}", private_key="rt-secret",
        flow_set=[flow(f"rt-a-{tag}"), flow(f"rt-b-{tag}", layout="content_right")],
    )
    fetched = api.stages_captcha_retrieve(str(created.pk))
    body = fetched.to_dict()
    body["private_key"] = "rt-secret"
    body["flow_set"] = [FlowSetRequest.from_dict(f) for f in body["flow_set"]]
    request = CaptchaStageRequest.from_dict(body)
    again = api.stages_captcha_update(str(created.pk), request)
    assert sorted(again.flow_set, key=lambda f: f.slug) == sorted(
        fetched.flow_set, key=lambda f: f.slug
    )
    assert again == api.stages_captcha_retrieve(str(created.pk))
    assert again.model_dump(exclude={"flow_set"}) == fetched.model_dump(exclude={"flow_set"})


def test_put_flow_set_updates_adds_and_unbinds_by_slug(api, tag):
    created = new_stage(
        api, f"put-fs-{tag}", flow_set=[flow(f"keep-{tag}"), flow(f"drop-{tag}")]
    )
    kept_before = next(f for f in created.flow_set if f.slug == f"keep-{tag}")
    updated = api.stages_captcha_update(
        str(created.pk),
        CaptchaStageRequest(
            name=f"put-fs-{tag}",
            public_key="p",
            private_key="s",
            flow_set=[
                flow(f"keep-{tag}", title="Retitled", designation="recovery"),
                flow(f"added-{tag}"),
            ],
        ),
    )
    by_slug = {f.slug: f for f in updated.flow_set}
    assert set(by_slug) == {f"keep-{tag}", f"added-{tag}"}
    kept = by_slug[f"keep-{tag}"]
    assert kept.pk == kept_before.pk
    assert kept.title == "Retitled"
    assert kept.designation == "recovery"

    # The dropped flow still exists: binding it into a new stage by slug is refused.
    with pytest.raises(ApiException) as caught:
        new_stage(api, f"reuse-{tag}", flow_set=[flow(f"drop-{tag}")])
    assert caught.value.status == 400
    assert error_body(caught.value) == {
        "flow_set": [{"slug": ["Flow with this slug already exists."]}]
    }


def test_patch_changes_only_given_keys_and_keeps_private_key(api, server, tag):
    created = new_stage(
        api, f"patch-{tag}", private_key="patch-secret", interactive=True,
        flow_set=[flow(f"patch-{tag}")],
    )
    response = api.stages_captcha_partial_update_with_http_info(
        str(created.pk),
        PatchedCaptchaStageRequest(public_key="patched-public", score_min_threshold=0.2),
    )
    assert response.status_code == 200
    patched = response.data
    assert patched.public_key == "patched-public"
    assert patched.score_min_threshold == 0.2
    assert patched.name == f"patch-{tag}"
    assert patched.interactive is True
    assert patched.js_url == DEFAULT_JS_URL
    assert patched.flow_set == created.flow_set
    raw = json.loads(response.raw_data)
    assert list(raw) == STAGE_KEYS
    assert "private_key" not in raw
    assert b"patch-secret" not in response.raw_data
    assert server.stored_private_key(f"patch-{tag}") == "patch-secret"


def test_patch_private_key_is_stored_never_returned(api, server, tag):
    created = new_stage(api, f"patch-sk-{tag}", private_key="first-secret")
    response = api.stages_captcha_partial_update_with_http_info(
        str(created.pk), PatchedCaptchaStageRequest(private_key="second-secret")
    )
    assert response.status_code == 200
    assert b"second-secret" not in response.raw_data
    assert "private_key" not in json.loads(response.raw_data)
    assert response.data.public_key == created.public_key
    assert server.stored_private_key(f"patch-sk-{tag}") == "second-secret"


def test_patch_flow_set(api, tag):
    created = new_stage(api, f"patch-fs-{tag}")
    patched = api.stages_captcha_partial_update(
        str(created.pk),
        PatchedCaptchaStageRequest(flow_set=[flow(f"patch-fs-{tag}", layout="content_left")]),
    )
    assert [(f.slug, f.layout) for f in patched.flow_set] == [(f"patch-fs-{tag}", "content_left")]
    cleared = api.stages_captcha_partial_update(
        str(created.pk), PatchedCaptchaStageRequest(flow_set=[])
    )
    assert cleared.flow_set == []


def test_destroy_then_retrieve_is_404(api, tag):
    created = new_stage(api, f"delete-{tag}", flow_set=[flow(f"delete-{tag}")])
    response = api.stages_captcha_destroy_with_http_info(str(created.pk))
    assert response.status_code == 204
    assert response.raw_data == b""

    with pytest.raises(ApiException) as caught:
        api.stages_captcha_retrieve(str(created.pk))
    assert caught.value.status == 404
    assert error_body(caught.value) == {"detail": "No CaptchaStage matches the given query."}

    with pytest.raises(ApiException) as caught:
        api.stages_captcha_destroy(str(created.pk))
    assert caught.value.status == 404

    assert api.stages_captcha_list(name=f"delete-{tag}").results == []
    # Deleting a stage keeps its flows: the slug is still taken.
    with pytest.raises(ApiException) as caught:
        new_stage(api, f"delete-again-{tag}", flow_set=[flow(f"delete-{tag}")])
    assert caught.value.status == 400
    assert error_body(caught.value) == {
        "flow_set": [{"slug": ["Flow with this slug already exists."]}]
    }


def test_used_by_unbound_stage_is_empty(api, tag):
    created = new_stage(api, f"unused-{tag}")
    response = api.stages_captcha_used_by_list_with_http_info(str(created.pk))
    assert response.status_code == 200
    assert response.data == []
    assert json.loads(response.raw_data) == []


def test_used_by_lists_flow_and_binding_per_binding(api, tag):
    created = new_stage(
        api, f"used-{tag}",
        flow_set=[flow(f"used-a-{tag}", name="First"), flow(f"used-b-{tag}", name="Second")],
    )
    flows = {f.slug: f for f in created.flow_set}
    entries = api.stages_captcha_used_by_list(str(created.pk))
    assert len(entries) == 4
    got = sorted((e.app, e.model_name, e.name, e.action) for e in entries)
    fa, fb = flows[f"used-a-{tag}"], flows[f"used-b-{tag}"]
    assert got == sorted([
        ("authentik_flows", "flow", f"Flow First (used-a-{tag})", "cascade_many"),
        ("authentik_flows", "flow", f"Flow Second (used-b-{tag})", "cascade_many"),
        ("authentik_flows", "flowstagebinding", f"Flow-stage binding #0 to {fa.pk}", "cascade"),
        ("authentik_flows", "flowstagebinding", f"Flow-stage binding #0 to {fb.pk}", "cascade"),
    ])
    flow_entries = {e.pk for e in entries if e.model_name == "flow"}
    assert flow_entries == {str(fa.pk), str(fb.pk)}
    binding_pks = [e.pk for e in entries if e.model_name == "flowstagebinding"]
    assert len(set(binding_pks)) == 2
    for pk in binding_pks:
        assert str(uuid.UUID(pk)) == pk
        assert pk not in {str(fa.pk), str(fb.pk), str(created.pk)}
