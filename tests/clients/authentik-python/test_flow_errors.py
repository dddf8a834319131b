"""Error paths of FlowsApi as the generated client sees them (ApiException with status and body):
400 validation bodies, 403 for each missing permission, 404 for unknown flows and bindings
(flows-api.md sections 2-4, captcha-stage-api.md section 7).

Values the client itself refuses (a bad choice, a slug off its pattern, a missing required key)
are sent in models built with pydantic's `model_construct`, which skips the client's checks:
the request still goes through the client's own serialization and transport."""

import uuid

import pytest
from authentik_client import (
    FlowRequest,
    FlowStageBindingRequest,
    PatchedFlowRequest,
    PatchedFlowStageBindingRequest,
)
from authentik_client.exceptions import ApiException

from helpers import (
    ADD_BINDING,
    ADD_FLOW,
    CHANGE_BINDING,
    CHANGE_FLOW,
    DELETE_BINDING,
    DELETE_FLOW,
    FLOW_PERMISSIONS,
    VIEW_BINDING,
    VIEW_FLOW,
    error_body,
    flow_request,
    make_flows_api,
    new_binding,
    new_flow,
    new_stage,
)

# model_construct's values off the client's enums make pydantic warn when it serializes them.
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

PERMISSION_DENIED = {"detail": "You do not have permission to perform this action."}
NO_FLOW = {"detail": "No Flow matches the given query."}
NO_BINDING = {"detail": "No FlowStageBinding matches the given query."}
NOT_UNIQUE = {"non_field_errors": ["The fields target, stage, order must make a unique set."]}


def raises(status: int, call, *args, **kwargs) -> ApiException:
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    assert caught.value.status == status, caught.value.body
    return caught.value


def unchecked_flow(**fields) -> FlowRequest:
    return FlowRequest.model_construct(**fields)


# --- 400: flows ---------------------------------------------------------------------------------


def test_duplicate_slug_on_create(flows, tag):
    new_flow(flows, f"dup-{tag}")
    exc = raises(400, new_flow, flows, f"dup-{tag}")
    assert error_body(exc) == {"slug": ["Flow with this slug already exists."]}
    assert flows.flows_instances_list(slug=f"dup-{tag}").pagination.count == 1


def test_duplicate_slug_on_put_and_patch(flows, tag):
    new_flow(flows, f"taken-{tag}")
    other = new_flow(flows, f"mine-{tag}")
    exc = raises(400, flows.flows_instances_update, f"mine-{tag}", flow_request(f"taken-{tag}"))
    assert error_body(exc) == {"slug": ["Flow with this slug already exists."]}
    exc = raises(
        400, flows.flows_instances_partial_update, f"mine-{tag}",
        PatchedFlowRequest(slug=f"taken-{tag}", title="not saved"),
    )
    assert error_body(exc) == {"slug": ["Flow with this slug already exists."]}
    assert flows.flows_instances_retrieve(f"mine-{tag}") == other


def test_bad_choices_are_all_reported(flows, tag):
    exc = raises(
        400, flows.flows_instances_create,
        unchecked_flow(
            name="n", slug=f"choices-{tag}", title="t", designation="bogus", policy_engine_mode="some",
            layout="diagonal", denied_action="shrug", authentication="maybe",
        ),
    )
    assert error_body(exc) == {
        "designation": ['"bogus" is not a valid choice.'],
        "policy_engine_mode": ['"some" is not a valid choice.'],
        "layout": ['"diagonal" is not a valid choice.'],
        "denied_action": ['"shrug" is not a valid choice.'],
        "authentication": ['"maybe" is not a valid choice.'],
    }
    assert flows.flows_instances_list(slug=f"choices-{tag}").results == []


def test_required_blank_and_slug_rules(flows, tag):
    exc = raises(400, flows.flows_instances_create, unchecked_flow(name="only a name"))
    assert error_body(exc) == {
        "slug": ["This field is required."],
        "title": ["This field is required."],
        "designation": ["This field is required."],
    }
    exc = raises(
        400, flows.flows_instances_create,
        unchecked_flow(name="  ", slug="bad slug!", title="t", designation="recovery"),
    )
    assert error_body(exc) == {
        "name": ["This field may not be blank."],
        "slug": ['Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'],
    }
    exc = raises(
        400, flows.flows_instances_create,
        unchecked_flow(name="n", slug="s" * 51, title="t", designation="recovery"),
    )
    assert error_body(exc) == {"slug": ["Ensure this field has no more than 50 characters."]}
    # 50 characters are fine.
    assert new_flow(flows, f"{tag}-".ljust(50, "x")).slug == f"{tag}-".ljust(50, "x")


def test_bad_patch_changes_nothing(flows, tag):
    created = new_flow(flows, f"keep-{tag}")
    exc = raises(
        400, flows.flows_instances_partial_update, f"keep-{tag}",
        PatchedFlowRequest.model_construct(title="new title", layout="upside_down"),
    )
    assert error_body(exc) == {"layout": ['"upside_down" is not a valid choice.']}
    assert flows.flows_instances_retrieve(f"keep-{tag}") == created


def test_list_filter_with_a_bad_choice(flows):
    exc = raises(400, flows.flows_instances_list, designation="bogus")
    assert error_body(exc) == {
        "designation": ["Select a valid choice. bogus is not one of the available choices."]
    }
    exc = raises(400, flows.flows_instances_list, denied_action="nope", designation="recovery")
    assert error_body(exc) == {
        "denied_action": ["Select a valid choice. nope is not one of the available choices."]
    }


# --- 400: bindings ------------------------------------------------------------------------------


def test_unknown_target_and_stage(api, flows, tag):
    target = new_flow(flows, f"ref-{tag}")
    stage = new_stage(api, f"ref-{tag}")
    ghost_flow, ghost_stage = uuid.uuid4(), uuid.uuid4()
    exc = raises(400, new_binding, flows, ghost_flow, stage.pk, 1)
    assert error_body(exc) == {"target": [f'Invalid pk "{ghost_flow}" - object does not exist.']}
    exc = raises(400, new_binding, flows, target.pk, ghost_stage, 1)
    assert error_body(exc) == {"stage": [f'Invalid pk "{ghost_stage}" - object does not exist.']}
    exc = raises(400, new_binding, flows, ghost_flow, ghost_stage, 1)
    assert error_body(exc) == {
        "target": [f'Invalid pk "{ghost_flow}" - object does not exist.'],
        "stage": [f'Invalid pk "{ghost_stage}" - object does not exist.'],
    }
    # A flow's pk is not a stage's, nor the other way round.
    exc = raises(400, new_binding, flows, stage.pk, target.pk, 1)
    assert error_body(exc) == {
        "target": [f'Invalid pk "{stage.pk}" - object does not exist.'],
        "stage": [f'Invalid pk "{target.pk}" - object does not exist.'],
    }
    assert flows.flows_bindings_list(target=str(target.pk)).results == []

    created = new_binding(flows, target.pk, stage.pk, 1)
    exc = raises(
        400, flows.flows_bindings_partial_update, str(created.pk),
        PatchedFlowStageBindingRequest(target=ghost_flow),
    )
    assert error_body(exc) == {"target": [f'Invalid pk "{ghost_flow}" - object does not exist.']}
    assert flows.flows_bindings_retrieve(str(created.pk)) == created


def test_target_stage_order_must_be_unique(api, flows, tag):
    target = new_flow(flows, f"uniq-{tag}")
    stage = new_stage(api, f"uniq-{tag}")
    first = new_binding(flows, target.pk, stage.pk, 1)
    exc = raises(400, new_binding, flows, target.pk, stage.pk, 1)
    assert error_body(exc) == NOT_UNIQUE
    # Another order is another binding; moving it onto the first one's order is refused.
    second = new_binding(flows, target.pk, stage.pk, 2)
    exc = raises(
        400, flows.flows_bindings_partial_update, str(second.pk), PatchedFlowStageBindingRequest(order=1)
    )
    assert error_body(exc) == NOT_UNIQUE
    exc = raises(
        400, flows.flows_bindings_update, str(second.pk),
        FlowStageBindingRequest(target=target.pk, stage=stage.pk, order=1),
    )
    assert error_body(exc) == NOT_UNIQUE
    assert [b.pk for b in flows.flows_bindings_list(target=str(target.pk)).results] == [first.pk, second.pk]
    # Its own (target, stage, order) is no conflict.
    same = flows.flows_bindings_update(
        str(second.pk), FlowStageBindingRequest(target=target.pk, stage=stage.pk, order=2)
    )
    assert same.pk == second.pk


def test_binding_bad_values(api, flows, tag):
    target = new_flow(flows, f"bad-{tag}")
    stage = new_stage(api, f"bad-{tag}")
    exc = raises(
        400, flows.flows_bindings_create,
        FlowStageBindingRequest.model_construct(
            target=target.pk, stage=stage.pk, order=1, policy_engine_mode="most",
            invalid_response_action="panic",
        ),
    )
    assert error_body(exc) == {
        "policy_engine_mode": ['"most" is not a valid choice.'],
        "invalid_response_action": ['"panic" is not a valid choice.'],
    }
    exc = raises(400, flows.flows_bindings_create, FlowStageBindingRequest.model_construct())
    assert error_body(exc) == {
        "target": ["This field is required."],
        "stage": ["This field is required."],
        "order": ["This field is required."],
    }
    exc = raises(
        400, flows.flows_bindings_create,
        FlowStageBindingRequest.model_construct(target=target.pk, stage=stage.pk, order=2147483648),
    )
    assert error_body(exc) == {"order": ["Ensure this value is less than or equal to 2147483647."]}
    exc = raises(
        400, flows.flows_bindings_create,
        FlowStageBindingRequest.model_construct(target=target.pk, stage=stage.pk, order=-2147483649),
    )
    assert error_body(exc) == {"order": ["Ensure this value is greater than or equal to -2147483648."]}
    assert flows.flows_bindings_list(target=str(target.pk)).results == []


def test_binding_list_filter_with_a_bad_choice(flows):
    exc = raises(400, flows.flows_bindings_list, invalid_response_action="panic")
    assert error_body(exc) == {
        "invalid_response_action": ["Select a valid choice. panic is not one of the available choices."]
    }


# --- 403 ----------------------------------------------------------------------------------------


def test_no_token_and_bad_token(server, flows, tag):
    new_flow(flows, f"anon-{tag}")
    anonymous = make_flows_api(server, None)
    for call, args in [
        (anonymous.flows_instances_list, ()),
        (anonymous.flows_instances_retrieve, (f"anon-{tag}",)),
        (anonymous.flows_instances_create, (flow_request(f"anon-new-{tag}"),)),
        (anonymous.flows_instances_destroy, (f"anon-{tag}",)),
        (anonymous.flows_bindings_list, ()),
        (anonymous.flows_bindings_retrieve, (str(uuid.uuid4()),)),
    ]:
        exc = raises(403, call, *args)
        assert error_body(exc) == {"detail": "Authentication credentials were not provided."}
        assert "www-authenticate" not in {k.lower() for k in (exc.headers or {})}
    bad = make_flows_api(server, "not-a-real-token-" + uuid.uuid4().hex)
    for call in (bad.flows_instances_list, bad.flows_bindings_list):
        exc = raises(403, call)
        assert error_body(exc) == {"detail": "Token invalid/expired"}
    assert flows.flows_instances_list(slug=f"anon-new-{tag}").results == []
    assert flows.flows_instances_retrieve(f"anon-{tag}").slug == f"anon-{tag}"


FLOW_OPERATIONS = {
    "list": VIEW_FLOW,
    "retrieve": VIEW_FLOW,
    "used_by": VIEW_FLOW,
    "create": ADD_FLOW,
    "update": CHANGE_FLOW,
    "partial_update": CHANGE_FLOW,
    "destroy": DELETE_FLOW,
}


def perform_on_flow(client, operation: str, slug: str, tag: str):
    if operation == "list":
        return client.flows_instances_list()
    if operation == "retrieve":
        return client.flows_instances_retrieve(slug)
    if operation == "used_by":
        return client.flows_instances_used_by_list(slug)
    if operation == "create":
        return client.flows_instances_create(flow_request(f"perm-new-{tag}"))
    if operation == "update":
        return client.flows_instances_update(slug, flow_request(slug, title="changed by PUT"))
    if operation == "partial_update":
        return client.flows_instances_partial_update(slug, PatchedFlowRequest(title="changed by PATCH"))
    if operation == "destroy":
        return client.flows_instances_destroy(slug)
    raise AssertionError(operation)


@pytest.mark.parametrize("operation", sorted(FLOW_OPERATIONS))
def test_flow_token_lacking_the_permission(server, flows, tag, operation):
    needed = FLOW_OPERATIONS[operation]
    created = new_flow(flows, f"perm-{tag}")
    lacking = make_flows_api(server, server.create_token(*(p for p in FLOW_PERMISSIONS if p != needed)))
    exc = raises(403, perform_on_flow, lacking, operation, f"perm-{tag}", tag)
    assert error_body(exc) == PERMISSION_DENIED
    assert flows.flows_instances_retrieve(f"perm-{tag}") == created
    assert flows.flows_instances_list(slug=f"perm-new-{tag}").results == []
    # The same request with exactly the needed permission succeeds.
    holding = make_flows_api(server, server.create_token(needed))
    perform_on_flow(holding, operation, f"perm-{tag}", tag)


BINDING_OPERATIONS = {
    "list": VIEW_BINDING,
    "retrieve": VIEW_BINDING,
    "used_by": VIEW_BINDING,
    "create": ADD_BINDING,
    "update": CHANGE_BINDING,
    "partial_update": CHANGE_BINDING,
    "destroy": DELETE_BINDING,
}


def perform_on_binding(client, operation: str, binding):
    pk = str(binding.pk)
    if operation == "list":
        return client.flows_bindings_list()
    if operation == "retrieve":
        return client.flows_bindings_retrieve(pk)
    if operation == "used_by":
        return client.flows_bindings_used_by_list(pk)
    if operation == "create":
        return client.flows_bindings_create(
            FlowStageBindingRequest(target=binding.target, stage=binding.stage, order=99)
        )
    if operation == "update":
        return client.flows_bindings_update(
            pk, FlowStageBindingRequest(target=binding.target, stage=binding.stage, order=50)
        )
    if operation == "partial_update":
        return client.flows_bindings_partial_update(pk, PatchedFlowStageBindingRequest(order=60))
    if operation == "destroy":
        return client.flows_bindings_destroy(pk)
    raise AssertionError(operation)


@pytest.mark.parametrize("operation", sorted(BINDING_OPERATIONS))
def test_binding_token_lacking_the_permission(server, api, flows, tag, operation):
    needed = BINDING_OPERATIONS[operation]
    target = new_flow(flows, f"bperm-{tag}")
    stage = new_stage(api, f"bperm-{tag}")
    created = new_binding(flows, target.pk, stage.pk, 1)
    lacking = make_flows_api(server, server.create_token(*(p for p in FLOW_PERMISSIONS if p != needed)))
    exc = raises(403, perform_on_binding, lacking, operation, created)
    assert error_body(exc) == PERMISSION_DENIED
    assert [b.pk for b in flows.flows_bindings_list(target=str(target.pk)).results] == [created.pk]
    assert flows.flows_bindings_retrieve(str(created.pk)) == created
    holding = make_flows_api(server, server.create_token(needed))
    perform_on_binding(holding, operation, created)


def test_captcha_permissions_do_not_reach_flows(server, flows, tag):
    new_flow(flows, f"captcha-only-{tag}")
    captcha_only = make_flows_api(
        server,
        server.create_token(
            "authentik_stages_captcha.view_captchastage", "authentik_stages_captcha.add_captchastage",
            "authentik_stages_captcha.change_captchastage", "authentik_stages_captcha.delete_captchastage",
        ),
    )
    for call, args in [
        (captcha_only.flows_instances_list, ()),
        (captcha_only.flows_instances_retrieve, (f"captcha-only-{tag}",)),
        (captcha_only.flows_instances_create, (flow_request(f"captcha-only-new-{tag}"),)),
        (captcha_only.flows_bindings_list, ()),
    ]:
        exc = raises(403, call, *args)
        assert error_body(exc) == PERMISSION_DENIED


# --- 404 ----------------------------------------------------------------------------------------


def test_unknown_slug_is_404_everywhere(flows, tag):
    missing = f"ghost-{tag}"
    for call, args in [
        (flows.flows_instances_retrieve, (missing,)),
        (flows.flows_instances_update, (missing, flow_request(missing))),
        (flows.flows_instances_partial_update, (missing, PatchedFlowRequest(title="x"))),
        (flows.flows_instances_destroy, (missing,)),
        (flows.flows_instances_used_by_list, (missing,)),
    ]:
        exc = raises(404, call, *args)
        assert error_body(exc) == NO_FLOW, call.__name__
    # PUT does not upsert.
    assert flows.flows_instances_list(slug=missing).results == []


def test_unknown_flow_is_404_before_its_body_is_checked(flows, tag):
    exc = raises(
        404, flows.flows_instances_partial_update, f"ghost-{tag}",
        PatchedFlowRequest.model_construct(layout="upside_down"),
    )
    assert error_body(exc) == NO_FLOW


def test_unknown_binding_is_404_everywhere(api, flows, tag):
    target = new_flow(flows, f"bghost-{tag}")
    stage = new_stage(api, f"bghost-{tag}")
    missing = str(uuid.uuid4())
    for call, args in [
        (flows.flows_bindings_retrieve, (missing,)),
        (flows.flows_bindings_update,
         (missing, FlowStageBindingRequest(target=target.pk, stage=stage.pk, order=1))),
        (flows.flows_bindings_partial_update, (missing, PatchedFlowStageBindingRequest(order=1))),
        (flows.flows_bindings_destroy, (missing,)),
        (flows.flows_bindings_used_by_list, (missing,)),
    ]:
        exc = raises(404, call, *args)
        assert error_body(exc) == NO_BINDING, call.__name__
    # PUT does not upsert.
    assert flows.flows_bindings_list(target=str(target.pk)).results == []


# A slug outside the pattern, or a binding id that is not a UUID, cannot be sent through this
# client's detail methods (FlowsApi types fsb_uuid as UUID); the TypeScript suite sends them.
