"""POST /api/v3/stages/captcha/ through StagesApi.stages_captcha_create (spec sections 2, 3, 4)."""

import json
import uuid

from authentik_client import CaptchaStage, CaptchaStageRequest

from helpers import (
    DEFAULT_API_URL,
    DEFAULT_BACKGROUND,
    DEFAULT_JS_URL,
    FLOW_SET_KEYS,
    STAGE_KEYS,
    flow,
)


def test_create_without_flow_set_applies_defaults(api, server, tag):
    secret = f"private-{uuid.uuid4().hex}"
    response = api.stages_captcha_create_with_http_info(
        CaptchaStageRequest(name=f"plain-{tag}", public_key="site-key", private_key=secret)
    )
    assert response.status_code == 201
    stage = response.data
    assert isinstance(stage, CaptchaStage)
    assert uuid.UUID(str(stage.pk)).version == 4
    assert stage.name == f"plain-{tag}"
    assert stage.component == "ak-stage-captcha-form"
    assert stage.verbose_name == "Captcha Stage"
    assert stage.verbose_name_plural == "Captcha Stages"
    assert stage.meta_model_name == "authentik_stages_captcha.captchastage"
    assert stage.flow_set == []
    assert stage.public_key == "site-key"
    assert stage.js_url == DEFAULT_JS_URL
    assert stage.api_url == DEFAULT_API_URL
    assert stage.interactive is False
    assert stage.score_min_threshold == 0.5
    assert stage.score_max_threshold == 1.0
    assert stage.error_on_invalid_score is True

    raw = json.loads(response.raw_data)
    assert list(raw) == STAGE_KEYS
    assert "private_key" not in raw
    assert secret.encode() not in response.raw_data
    assert server.stored_private_key(f"plain-{tag}") == secret


def test_create_with_every_field_and_trimmed_strings(api, tag):
    stage = api.stages_captcha_create(
        CaptchaStageRequest(
            name=f"  full-{tag}  ",
            public_key=" pk-full ",
            private_key="sk-full",
            js_url="https://captcha.example/api.js",
            api_url="https://captcha.example/verify",
            interactive=True,
            score_min_threshold=0.25,
            score_max_threshold=0.75,
            error_on_invalid_score=False,
        )
    )
    assert stage.name == f"full-{tag}"
    assert stage.public_key == "pk-full"
    assert stage.js_url == "https://captcha.example/api.js"
    assert stage.api_url == "https://captcha.example/verify"
    assert stage.interactive is True
    assert stage.score_min_threshold == 0.25
    assert stage.score_max_threshold == 0.75
    assert stage.error_on_invalid_score is False
    assert stage.flow_set == []


def test_create_with_empty_flow_set_creates_nothing(api, tag):
    stage = api.stages_captcha_create(
        CaptchaStageRequest(name=f"empty-fs-{tag}", public_key="p", private_key="s", flow_set=[])
    )
    assert stage.flow_set == []
    assert api.stages_captcha_used_by_list(str(stage.pk)) == []


def test_create_with_flow_set_of_two_flows(api, tag):
    first = flow(
        f"login-{tag}",
        name="Login",
        title="Welcome back",
        designation="authentication",
    )
    second = flow(
        f"enroll-{tag}",
        name="Enroll",
        title="Sign up",
        designation="enrollment",
        policy_engine_mode="all",
        compatibility_mode=True,
        layout="sidebar_left",
        denied_action="continue",
    )
    response = api.stages_captcha_create_with_http_info(
        CaptchaStageRequest(
            name=f"with-flows-{tag}",
            public_key="p",
            private_key="s",
            flow_set=[first, second],
        )
    )
    assert response.status_code == 201
    stage = response.data
    assert len(stage.flow_set) == 2
    by_slug = {f.slug: f for f in stage.flow_set}
    assert set(by_slug) == {f"login-{tag}", f"enroll-{tag}"}

    login = by_slug[f"login-{tag}"]
    assert login.name == "Login"
    assert login.title == "Welcome back"
    assert login.designation == "authentication"
    assert login.background == DEFAULT_BACKGROUND
    assert login.policy_engine_mode == "any"
    assert login.compatibility_mode is False
    assert login.export_url == f"/api/v3/flows/instances/login-{tag}/export/"
    assert login.layout == "stacked"
    assert login.denied_action == "message_continue"

    enroll = by_slug[f"enroll-{tag}"]
    assert enroll.name == "Enroll"
    assert enroll.title == "Sign up"
    assert enroll.designation == "enrollment"
    assert enroll.background == DEFAULT_BACKGROUND
    assert enroll.policy_engine_mode == "all"
    assert enroll.compatibility_mode is True
    assert enroll.export_url == f"/api/v3/flows/instances/enroll-{tag}/export/"
    assert enroll.layout == "sidebar_left"
    assert enroll.denied_action == "continue"

    uuids = [login.pk, login.policybindingmodel_ptr_id, enroll.pk, enroll.policybindingmodel_ptr_id]
    assert len(set(uuids)) == 4

    raw = json.loads(response.raw_data)
    for entry in raw["flow_set"]:
        assert list(entry) == FLOW_SET_KEYS

    # The same entries come back on a later read.
    again = api.stages_captcha_retrieve(str(stage.pk))
    assert sorted(again.flow_set, key=lambda f: f.slug) == sorted(
        stage.flow_set, key=lambda f: f.slug
    )
