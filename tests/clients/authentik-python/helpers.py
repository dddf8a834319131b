"""Helpers shared by the suite: where the binary is, the server handle, and a client factory
for authentik's generated Python client (authentik-client 2025.10.4, used unchanged)."""

import json
import uuid
import sqlite3
import sys
from pathlib import Path

from authentik_client import ApiClient, Configuration, FlowsApi, StagesApi
from authentik_client.exceptions import ApiException

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stages_server import RunningServer  # noqa: E402

VIEW = "authentik_stages_captcha.view_captchastage"
ADD = "authentik_stages_captcha.add_captchastage"
CHANGE = "authentik_stages_captcha.change_captchastage"
DELETE = "authentik_stages_captcha.delete_captchastage"
ALL_PERMISSIONS = (VIEW, ADD, CHANGE, DELETE)

VIEW_FLOW = "authentik_flows.view_flow"
ADD_FLOW = "authentik_flows.add_flow"
CHANGE_FLOW = "authentik_flows.change_flow"
DELETE_FLOW = "authentik_flows.delete_flow"
VIEW_BINDING = "authentik_flows.view_flowstagebinding"
ADD_BINDING = "authentik_flows.add_flowstagebinding"
CHANGE_BINDING = "authentik_flows.change_flowstagebinding"
DELETE_BINDING = "authentik_flows.delete_flowstagebinding"
FLOW_PERMISSIONS = (
    VIEW_FLOW, ADD_FLOW, CHANGE_FLOW, DELETE_FLOW,
    VIEW_BINDING, ADD_BINDING, CHANGE_BINDING, DELETE_BINDING,
)


class Server(RunningServer):
    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v3"

    def stored_private_key(self, stage_name: str) -> str:
        """The private key as stored: no API returns it, so the database is the only witness."""
        with sqlite3.connect(f"file:{self.database_file}?mode=ro", uri=True) as db:
            row = db.execute(
                "SELECT c.private_key FROM captcha_stage c "
                "JOIN stage s ON s.stage_uuid = c.stage_ptr_id WHERE s.name = ?",
                (stage_name,),
            ).fetchone()
        assert row is not None, f"no stored captcha stage named {stage_name!r}"
        return row[0]


def make_api(server: Server, token: str | None) -> StagesApi:
    """A StagesApi configured the way authentik's docs show; token None sends no header."""
    config = Configuration(host=server.api_base, access_token=token)
    return StagesApi(ApiClient(config))



def make_flows_api(server: Server, token: str | None) -> FlowsApi:
    """A FlowsApi configured like make_api's StagesApi; token None sends no header."""
    return FlowsApi(ApiClient(Configuration(host=server.api_base, access_token=token)))


def error_body(exc: ApiException):
    return json.loads(exc.body)


DEFAULT_JS_URL = "https://www.recaptcha.net/recaptcha/api.js"
DEFAULT_API_URL = "https://www.recaptcha.net/recaptcha/api/siteverify"
DEFAULT_BACKGROUND = "/static/dist/assets/images/flow_background.jpg"

STAGE_KEYS = [
    "pk", "name", "component", "verbose_name", "verbose_name_plural", "meta_model_name",
    "flow_set", "public_key", "js_url", "api_url", "interactive", "score_min_threshold",
    "score_max_threshold", "error_on_invalid_score",
]
FLOW_SET_KEYS = [
    "pk", "policybindingmodel_ptr_id", "name", "slug", "title", "designation", "background",
    "policy_engine_mode", "compatibility_mode", "export_url", "layout", "denied_action",
]
FLOW_KEYS = [
    "pk", "policybindingmodel_ptr_id", "name", "slug", "title", "designation", "background",
    "stages", "policies", "cache_count", "policy_engine_mode", "compatibility_mode", "export_url",
    "layout", "denied_action", "authentication",
]
BINDING_KEYS = [
    "pk", "policybindingmodel_ptr_id", "target", "stage", "stage_obj", "evaluate_on_plan",
    "re_evaluate_policies", "order", "policy_engine_mode", "invalid_response_action",
]
STAGE_OBJ_KEYS = [
    "pk", "name", "component", "verbose_name", "verbose_name_plural", "meta_model_name", "flow_set",
]


def new_stage(api: StagesApi, name: str, **fields):
    """POST a captcha stage through the generated client and return the parsed CaptchaStage."""
    from authentik_client import CaptchaStageRequest

    fields.setdefault("public_key", f"pub-{name}")
    fields.setdefault("private_key", f"priv-{uuid.uuid4().hex}")
    return api.stages_captcha_create(CaptchaStageRequest(name=name, **fields))


def flow(slug: str, **fields):
    """A FlowSetRequest with the required fields derived from the slug."""
    from authentik_client import FlowSetRequest

    fields.setdefault("name", f"Flow {slug}")
    fields.setdefault("title", f"Title {slug}")
    fields.setdefault("designation", "authentication")
    return FlowSetRequest(slug=slug, **fields)


def flow_request(slug: str, **fields):
    """A FlowRequest (flows_instances_create / update) with the required fields from the slug."""
    from authentik_client import FlowRequest

    fields.setdefault("name", f"Flow {slug}")
    fields.setdefault("title", f"Title {slug}")
    fields.setdefault("designation", "authentication")
    return FlowRequest(slug=slug, **fields)


def new_flow(flows: FlowsApi, slug: str, **fields):
    """POST a flow through FlowsApi.flows_instances_create and return the parsed Flow."""
    return flows.flows_instances_create(flow_request(slug, **fields))


def new_binding(flows: FlowsApi, target, stage, order: int, **fields):
    """POST a flow-stage binding and return the parsed FlowStageBinding."""
    from authentik_client import FlowStageBindingRequest

    return flows.flows_bindings_create(
        FlowStageBindingRequest(target=target, stage=stage, order=order, **fields)
    )
