"""/api/v3/flows/bindings/ through FlowsApi.flows_bindings_* (flows-api.md sections 1, 3):
create (stage_obj of the concrete captcha stage), list (filters, search, ordering, pages),
retrieve, PUT, PATCH, destroy, used_by; and that bindings, a stage's flow_set and a flow's
stages are one model seen three ways."""

import json
import uuid

import pytest
from authentik_client import (
    FlowStageBinding,
    FlowStageBindingRequest,
    PatchedCaptchaStageRequest,
    PatchedFlowStageBindingRequest,
)
from authentik_client.exceptions import ApiException

from helpers import (
    BINDING_KEYS,
    FLOW_SET_KEYS,
    STAGE_OBJ_KEYS,
    VIEW_BINDING,
    error_body,
    flow,
    make_flows_api,
    new_binding,
    new_flow,
    new_stage,
)

NO_BINDING = {"detail": "No FlowStageBinding matches the given query."}


def pks(page) -> list:
    return [b.pk for b in page.results]


def assert_captcha_stage_obj(binding: FlowStageBinding, stage) -> None:
    obj = binding.stage_obj
    assert obj.pk == stage.pk
    assert obj.name == stage.name
    assert obj.component == "ak-stage-captcha-form"
    assert obj.verbose_name == "Captcha Stage"
    assert obj.verbose_name_plural == "Captcha Stages"
    assert obj.meta_model_name == "authentik_stages_captcha.captchastage"


# --- create / retrieve --------------------------------------------------------------------------


def test_create_applies_defaults_and_shows_the_concrete_stage(api, flows, tag):
    target = new_flow(flows, f"bind-{tag}")
    stage = new_stage(api, f"bind-stage-{tag}")
    response = flows.flows_bindings_create_with_http_info(
        FlowStageBindingRequest(target=target.pk, stage=stage.pk, order=10)
    )
    assert response.status_code == 201
    binding = response.data
    assert isinstance(binding, FlowStageBinding)
    assert uuid.UUID(str(binding.pk)).version == 4
    assert binding.policybindingmodel_ptr_id not in (binding.pk, target.pk, target.policybindingmodel_ptr_id)
    assert binding.target == target.pk
    assert binding.stage == stage.pk
    assert binding.order == 10
    assert binding.evaluate_on_plan is False
    assert binding.re_evaluate_policies is True
    assert binding.policy_engine_mode == "any"
    assert binding.invalid_response_action == "retry"
    assert_captcha_stage_obj(binding, stage)
    (shown,) = binding.stage_obj.flow_set
    assert (shown.pk, shown.slug) == (target.pk, f"bind-{tag}")

    raw = json.loads(response.raw_data)
    assert list(raw) == BINDING_KEYS
    assert list(raw["stage_obj"]) == STAGE_OBJ_KEYS
    assert [list(f) for f in raw["stage_obj"]["flow_set"]] == [FLOW_SET_KEYS]
    assert "private_key" not in raw["stage_obj"] and "public_key" not in raw["stage_obj"]

    # One model under the three views: the stage's flow_set, the flow's stages.
    assert [f.pk for f in api.stages_captcha_retrieve(str(stage.pk)).flow_set] == [target.pk]
    assert flows.flows_instances_retrieve(f"bind-{tag}").stages == [stage.pk]


def test_create_with_every_field(api, flows, tag):
    target = new_flow(flows, f"bind-all-{tag}")
    stage = new_stage(api, f"bind-all-{tag}")
    binding = new_binding(
        flows, target.pk, stage.pk, -2147483648,
        evaluate_on_plan=True, re_evaluate_policies=False, policy_engine_mode="all",
        invalid_response_action="restart_with_context",
    )
    assert binding.order == -2147483648
    assert binding.evaluate_on_plan is True
    assert binding.re_evaluate_policies is False
    assert binding.policy_engine_mode == "all"
    assert binding.invalid_response_action == "restart_with_context"
    top = new_binding(flows, target.pk, stage.pk, 2147483647)
    assert top.order == 2147483647


def test_retrieve_returns_what_create_returned(api, flows, tag):
    target = new_flow(flows, f"bget-{tag}")
    stage = new_stage(api, f"bget-{tag}")
    created = new_binding(flows, target.pk, stage.pk, 3, invalid_response_action="restart")
    response = flows.flows_bindings_retrieve_with_http_info(str(created.pk))
    assert response.status_code == 200
    assert response.data == created
    raw = json.loads(response.raw_data)
    assert list(raw) == BINDING_KEYS
    assert list(raw["stage_obj"]) == STAGE_OBJ_KEYS


def test_same_stage_twice_in_one_flow(api, flows, tag):
    target = new_flow(flows, f"twice-{tag}")
    stage = new_stage(api, f"twice-{tag}")
    new_binding(flows, target.pk, stage.pk, 1)
    new_binding(flows, target.pk, stage.pk, 2)
    assert flows.flows_instances_retrieve(f"twice-{tag}").stages == [stage.pk, stage.pk]
    assert [f.slug for f in api.stages_captcha_retrieve(str(stage.pk)).flow_set] == [
        f"twice-{tag}", f"twice-{tag}"
    ]
    assert len(api.stages_captcha_used_by_list(str(stage.pk))) == 4


# --- list ---------------------------------------------------------------------------------------


@pytest.fixture
def four(api, flows, tag):
    """Two flows, two stages, four bindings with distinct settings."""
    f1 = new_flow(flows, f"bf1-{tag}")
    f2 = new_flow(flows, f"bf2-{tag}")
    s1 = new_stage(api, f"alpha {tag}")
    s2 = new_stage(api, f"beta {tag}")
    b1 = new_binding(flows, f1.pk, s1.pk, 10)
    b2 = new_binding(flows, f1.pk, s2.pk, 20, evaluate_on_plan=True, re_evaluate_policies=False,
                     policy_engine_mode="all", invalid_response_action="restart")
    b3 = new_binding(flows, f2.pk, s1.pk, 5, invalid_response_action="restart_with_context")
    b4 = new_binding(flows, f2.pk, s2.pk, 20, evaluate_on_plan=True, policy_engine_mode="all")
    return {"f1": f1, "f2": f2, "s1": s1, "s2": s2, "b1": b1, "b2": b2, "b3": b3, "b4": b4}


def by_pk(*bindings) -> list:
    return sorted((b.pk for b in bindings), key=str)


def test_list_filters(flows, tag, four):
    f1, f2, s1, s2 = four["f1"], four["f2"], four["s1"], four["s2"]
    b1, b2, b3, b4 = four["b1"], four["b2"], four["b3"], four["b4"]

    page = flows.flows_bindings_list(target=str(f1.pk))
    assert pks(page) == [b1.pk, b2.pk]
    assert page.autocomplete == {}
    # b1 as created, but its stage is now bound into f2 too (b3): stage_obj.flow_set has both.
    assert page.results[0].model_dump(exclude={"stage_obj"}) == b1.model_dump(exclude={"stage_obj"})
    assert sorted(str(f.pk) for f in page.results[0].stage_obj.flow_set) == sorted([str(f1.pk), str(f2.pk)])
    assert pks(flows.flows_bindings_list(target=str(f2.pk))) == [b3.pk, b4.pk]
    assert pks(flows.flows_bindings_list(stage=str(s1.pk))) == [b3.pk, b1.pk]
    assert pks(flows.flows_bindings_list(stage=str(s2.pk), target=str(f2.pk))) == [b4.pk]
    assert pks(flows.flows_bindings_list(search=tag, order=20)) == by_pk(b2, b4)
    assert pks(flows.flows_bindings_list(search=tag, order=6)) == []
    assert pks(flows.flows_bindings_list(search=tag, evaluate_on_plan=True)) == by_pk(b2, b4)
    assert pks(flows.flows_bindings_list(search=tag, evaluate_on_plan=False)) == [b3.pk, b1.pk]
    assert pks(flows.flows_bindings_list(search=tag, re_evaluate_policies=False)) == [b2.pk]
    assert pks(flows.flows_bindings_list(search=tag, policy_engine_mode="all")) == by_pk(b2, b4)
    assert pks(flows.flows_bindings_list(search=tag, policy_engine_mode="any")) == [b3.pk, b1.pk]
    assert pks(flows.flows_bindings_list(search=tag, invalid_response_action="restart")) == [b2.pk]
    assert pks(flows.flows_bindings_list(search=tag, invalid_response_action="restart_with_context")) == [b3.pk]
    assert pks(flows.flows_bindings_list(search=tag, invalid_response_action="retry")) == [b1.pk, b4.pk]
    assert pks(flows.flows_bindings_list(fsb_uuid=str(b3.pk))) == [b3.pk]
    assert pks(flows.flows_bindings_list(pbm_uuid=str(b4.policybindingmodel_ptr_id))) == [b4.pk]
    assert pks(flows.flows_bindings_list(target=str(uuid.uuid4()))) == []


def test_search_is_over_the_stage_name(flows, tag, four):
    b1, b2, b3, b4 = four["b1"], four["b2"], four["b3"], four["b4"]
    assert pks(flows.flows_bindings_list(search=tag)) == [b3.pk, b1.pk] + by_pk(b2, b4)
    assert pks(flows.flows_bindings_list(search=f"ALPHA {tag}")) == [b3.pk, b1.pk]
    assert pks(flows.flows_bindings_list(search=f"beta,{tag}")) == by_pk(b2, b4)
    # Flow slugs are not searched.
    assert pks(flows.flows_bindings_list(search=f"bf1-{tag}")) == []


def test_ordering(flows, tag, four):
    b1, b2, b3, b4 = four["b1"], four["b2"], four["b3"], four["b4"]
    tied = by_pk(b2, b4)

    def order(ordering):
        return pks(flows.flows_bindings_list(search=tag, ordering=ordering))

    assert order(None) == [b3.pk, b1.pk] + tied
    assert order("order") == [b3.pk, b1.pk] + tied
    assert order("-order,invalid_response_action") == [b2.pk, b4.pk, b1.pk, b3.pk]
    assert order("invalid_response_action,-order") == [b2.pk, b3.pk, b4.pk, b1.pk]
    assert order("-evaluate_on_plan,order") == tied + [b3.pk, b1.pk]
    # Unknown names are dropped; with none left the default applies.
    assert order("stage_obj") == [b3.pk, b1.pk] + tied
    assert order("nonsense,-order") == tied + [b1.pk, b3.pk]


def test_pages(flows, tag, four):
    b1, b3 = four["b1"], four["b3"]
    first = flows.flows_bindings_list(search=tag, page_size=2)
    assert pks(first) == [b3.pk, b1.pk]
    assert first.pagination.to_dict() == {
        "next": 2, "previous": 0, "count": 4, "current": 1, "total_pages": 2,
        "start_index": 1, "end_index": 2,
    }
    second = flows.flows_bindings_list(search=tag, page=2, page_size=2)
    assert pks(second) == by_pk(four["b2"], four["b4"])
    assert second.pagination.to_dict() == {
        "next": 0, "previous": 1, "count": 4, "current": 2, "total_pages": 2,
        "start_index": 3, "end_index": 4,
    }
    with pytest.raises(ApiException) as caught:
        flows.flows_bindings_list(search=tag, page=3, page_size=2)
    assert caught.value.status == 404
    assert error_body(caught.value) == {"detail": "Invalid page."}


def test_a_binding_viewer_sees_the_stage_obj(server, api, flows, tag):
    target = new_flow(flows, f"viewer-{tag}")
    stage = new_stage(api, f"viewer-{tag}")
    created = new_binding(flows, target.pk, stage.pk, 1)
    viewer = make_flows_api(server, server.create_token(VIEW_BINDING))
    (listed,) = viewer.flows_bindings_list(target=str(target.pk)).results
    assert listed == created
    assert_captcha_stage_obj(listed, stage)
    assert viewer.flows_bindings_retrieve(str(created.pk)) == created


# --- update -------------------------------------------------------------------------------------


def test_put_moves_the_binding(api, flows, tag):
    old = new_flow(flows, f"put-old-{tag}")
    new = new_flow(flows, f"put-new-{tag}")
    stage = new_stage(api, f"put-{tag}")
    created = new_binding(flows, old.pk, stage.pk, 1, evaluate_on_plan=True)

    response = flows.flows_bindings_update_with_http_info(
        str(created.pk),
        FlowStageBindingRequest(target=new.pk, stage=stage.pk, order=42, policy_engine_mode="all",
                                invalid_response_action="restart"),
    )
    assert response.status_code == 200
    updated = response.data
    assert updated.pk == created.pk
    assert updated.policybindingmodel_ptr_id == created.policybindingmodel_ptr_id
    assert (updated.target, updated.stage, updated.order) == (new.pk, stage.pk, 42)
    assert updated.policy_engine_mode == "all"
    assert updated.invalid_response_action == "restart"
    # Optional keys left out of a PUT keep their stored values.
    assert updated.evaluate_on_plan is True
    assert updated.re_evaluate_policies is True
    assert_captcha_stage_obj(updated, stage)
    assert [f.slug for f in updated.stage_obj.flow_set] == [f"put-new-{tag}"]
    assert list(json.loads(response.raw_data)) == BINDING_KEYS

    assert flows.flows_bindings_retrieve(str(created.pk)) == updated
    assert flows.flows_instances_retrieve(f"put-old-{tag}").stages == []
    assert flows.flows_instances_retrieve(f"put-new-{tag}").stages == [stage.pk]


def test_put_to_another_stage(api, flows, tag):
    target = new_flow(flows, f"restage-{tag}")
    first = new_stage(api, f"restage-1-{tag}")
    second = new_stage(api, f"restage-2-{tag}")
    created = new_binding(flows, target.pk, first.pk, 1)
    updated = flows.flows_bindings_update(
        str(created.pk), FlowStageBindingRequest(target=target.pk, stage=second.pk, order=1)
    )
    assert updated.stage == second.pk
    assert_captcha_stage_obj(updated, second)
    assert api.stages_captcha_retrieve(str(first.pk)).flow_set == []
    assert [f.slug for f in api.stages_captcha_retrieve(str(second.pk)).flow_set] == [f"restage-{tag}"]


def test_patch_changes_only_given_keys(api, flows, tag):
    target = new_flow(flows, f"bpatch-{tag}")
    stage = new_stage(api, f"bpatch-{tag}")
    created = new_binding(flows, target.pk, stage.pk, 1, invalid_response_action="restart")
    response = flows.flows_bindings_partial_update_with_http_info(
        str(created.pk), PatchedFlowStageBindingRequest(order=9, re_evaluate_policies=False)
    )
    assert response.status_code == 200
    patched = response.data
    assert (patched.order, patched.re_evaluate_policies) == (9, False)
    assert patched.model_dump(exclude={"order", "re_evaluate_policies"}) == created.model_dump(
        exclude={"order", "re_evaluate_policies"}
    )
    assert flows.flows_bindings_retrieve(str(created.pk)) == patched
    assert flows.flows_bindings_partial_update(str(created.pk)) == patched


# --- destroy / used_by --------------------------------------------------------------------------


def test_destroy_keeps_flow_and_stage(api, flows, tag):
    target = new_flow(flows, f"bdel-{tag}")
    stage = new_stage(api, f"bdel-{tag}")
    created = new_binding(flows, target.pk, stage.pk, 1)
    response = flows.flows_bindings_destroy_with_http_info(str(created.pk))
    assert response.status_code == 204
    assert response.raw_data == b""
    with pytest.raises(ApiException) as caught:
        flows.flows_bindings_retrieve(str(created.pk))
    assert caught.value.status == 404
    assert error_body(caught.value) == NO_BINDING
    with pytest.raises(ApiException) as caught:
        flows.flows_bindings_destroy(str(created.pk))
    assert caught.value.status == 404
    assert flows.flows_instances_retrieve(f"bdel-{tag}").stages == []
    assert api.stages_captcha_retrieve(str(stage.pk)).flow_set == []


def test_used_by_is_empty(api, flows, tag):
    target = new_flow(flows, f"bused-{tag}")
    stage = new_stage(api, f"bused-{tag}")
    created = new_binding(flows, target.pk, stage.pk, 1)
    response = flows.flows_bindings_used_by_list_with_http_info(str(created.pk))
    assert response.status_code == 200
    assert response.data == []
    assert json.loads(response.raw_data) == []


# --- the two views agree ------------------------------------------------------------------------


def test_a_flow_set_binding_is_listed_here(api, flows, tag):
    stage = new_stage(api, f"fsview-{tag}", flow_set=[flow(f"fsview-a-{tag}"), flow(f"fsview-b-{tag}")])
    by_slug = {f.slug: f for f in stage.flow_set}
    listed = flows.flows_bindings_list(stage=str(stage.pk)).results
    assert sorted(str(b.target) for b in listed) == sorted(str(f.pk) for f in stage.flow_set)
    assert len(listed) == 2
    for binding in listed:
        assert binding.order == 0
        assert binding.evaluate_on_plan is False
        assert binding.re_evaluate_policies is True
        assert binding.invalid_response_action == "retry"
        assert_captcha_stage_obj(binding, stage)
        assert flows.flows_bindings_retrieve(str(binding.pk)) == binding
    # used_by of the stage names the same binding rows.
    used = {e.pk for e in api.stages_captcha_used_by_list(str(stage.pk)) if e.model_name == "flowstagebinding"}
    assert used == {str(b.pk) for b in listed}

    # A flow_set write that drops a flow removes exactly that binding.
    api.stages_captcha_partial_update(
        str(stage.pk), PatchedCaptchaStageRequest(flow_set=[flow(f"fsview-b-{tag}")])
    )
    (left,) = flows.flows_bindings_list(stage=str(stage.pk)).results
    assert left.target == by_slug[f"fsview-b-{tag}"].pk
    assert flows.flows_instances_retrieve(f"fsview-a-{tag}").stages == []


def test_a_binding_made_here_is_kept_by_a_flow_set_write(api, flows, tag):
    stage = new_stage(api, f"fskeep-{tag}")
    target = new_flow(flows, f"fskeep-{tag}")
    created = new_binding(flows, target.pk, stage.pk, 15)
    # The response's flow_set sent back unchanged keeps the binding as it is.
    again = api.stages_captcha_partial_update(
        str(stage.pk), PatchedCaptchaStageRequest(flow_set=[flow(f"fskeep-{tag}")])
    )
    assert [f.pk for f in again.flow_set] == [target.pk]
    assert flows.flows_bindings_retrieve(str(created.pk)).order == 15


def test_deleting_the_stage_removes_its_bindings(api, flows, tag):
    one = new_flow(flows, f"sdel-1-{tag}")
    two = new_flow(flows, f"sdel-2-{tag}")
    stage = new_stage(api, f"sdel-{tag}")
    other = new_stage(api, f"sdel-other-{tag}")
    gone = [new_binding(flows, one.pk, stage.pk, 1), new_binding(flows, two.pk, stage.pk, 2)]
    kept = new_binding(flows, one.pk, other.pk, 2)

    api.stages_captcha_destroy(str(stage.pk))

    for binding in gone:
        with pytest.raises(ApiException) as caught:
            flows.flows_bindings_retrieve(str(binding.pk))
        assert caught.value.status == 404
    assert flows.flows_bindings_list(stage=str(stage.pk)).results == []
    assert pks(flows.flows_bindings_list(target=str(one.pk))) == [kept.pk]
    # The flows stay.
    assert flows.flows_instances_retrieve(f"sdel-1-{tag}").stages == [other.pk]
    assert flows.flows_instances_retrieve(f"sdel-2-{tag}").stages == []
