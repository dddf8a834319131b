"""/api/v3/flows/instances/ through FlowsApi.flows_instances_* (flows-api.md sections 1, 2):
create, list (every filter, search, ordering, pages), retrieve, PUT (slug change), PATCH,
destroy and used_by. Each test narrows the shared database with a unique tag in its slugs."""

import json
import uuid

import pytest
from authentik_client import Flow, PaginatedFlowList, PatchedFlowRequest
from authentik_client.exceptions import ApiException

from helpers import (
    DEFAULT_BACKGROUND,
    FLOW_KEYS,
    error_body,
    flow,
    flow_request,
    new_binding,
    new_flow,
    new_stage,
)


def slugs(page: PaginatedFlowList) -> list[str]:
    return [f.slug for f in page.results]


# --- create / retrieve --------------------------------------------------------------------------


def test_create_applies_defaults(flows, tag):
    response = flows.flows_instances_create_with_http_info(
        flow_request(f"new-{tag}", name="New flow", title="Welcome", designation="enrollment")
    )
    assert response.status_code == 201
    created = response.data
    assert isinstance(created, Flow)
    assert uuid.UUID(str(created.pk)).version == 4
    assert created.policybindingmodel_ptr_id != created.pk
    assert created.name == "New flow"
    assert created.slug == f"new-{tag}"
    assert created.title == "Welcome"
    assert created.designation == "enrollment"
    assert created.background == DEFAULT_BACKGROUND
    assert created.stages == []
    assert created.policies == []
    assert created.cache_count == 0
    assert created.policy_engine_mode == "any"
    assert created.compatibility_mode is False
    assert created.export_url == f"/api/v3/flows/instances/new-{tag}/export/"
    assert created.layout == "stacked"
    assert created.denied_action == "message_continue"
    assert created.authentication == "none"
    assert list(json.loads(response.raw_data)) == FLOW_KEYS


def test_create_with_every_field(flows, tag):
    created = new_flow(
        flows, f"full-{tag}",
        name="Full", title="All set", designation="stage_configuration",
        policy_engine_mode="all", compatibility_mode=True, layout="content_right",
        denied_action="continue", authentication="require_superuser",
    )
    assert (created.name, created.title, created.designation) == ("Full", "All set", "stage_configuration")
    assert created.policy_engine_mode == "all"
    assert created.compatibility_mode is True
    assert created.layout == "content_right"
    assert created.denied_action == "continue"
    assert created.authentication == "require_superuser"


@pytest.mark.parametrize(
    "authentication",
    ["none", "require_authenticated", "require_unauthenticated", "require_superuser",
     "require_redirect", "require_outpost"],
)
def test_every_authentication_value_round_trips(flows, tag, authentication):
    created = new_flow(flows, f"auth-{tag}", authentication=authentication)
    assert flows.flows_instances_retrieve(f"auth-{tag}").authentication == authentication
    assert created.authentication == authentication


def test_retrieve_returns_what_create_returned(flows, tag):
    created = new_flow(flows, f"get-{tag}", layout="sidebar_right")
    response = flows.flows_instances_retrieve_with_http_info(f"get-{tag}")
    assert response.status_code == 200
    assert response.data == created
    assert list(json.loads(response.raw_data)) == FLOW_KEYS


# --- list ---------------------------------------------------------------------------------------


def test_list_filters_are_exact(flows, tag):
    a = new_flow(flows, f"fa-{tag}", name=f"Alpha {tag}", designation="recovery", denied_action="message")
    new_flow(flows, f"fb-{tag}", name=f"alpha {tag}", designation="recovery", denied_action="continue")
    new_flow(flows, f"fc-{tag}", name=f"Alpha {tag} 2", designation="invalidation")

    page = flows.flows_instances_list(flow_uuid=str(a.pk))
    assert slugs(page) == [f"fa-{tag}"]
    assert page.autocomplete == {}
    assert page.results[0] == a

    assert slugs(flows.flows_instances_list(name=f"Alpha {tag}")) == [f"fa-{tag}"]
    assert slugs(flows.flows_instances_list(name=f"ALPHA {tag}")) == []
    assert slugs(flows.flows_instances_list(slug=f"fb-{tag}")) == [f"fb-{tag}"]
    assert slugs(flows.flows_instances_list(slug=f"fb-{tag}-x")) == []
    assert slugs(flows.flows_instances_list(search=tag, designation="recovery")) == [f"fa-{tag}", f"fb-{tag}"]
    assert slugs(flows.flows_instances_list(search=tag, designation="invalidation")) == [f"fc-{tag}"]
    assert slugs(flows.flows_instances_list(search=tag, designation="enrollment")) == []
    assert slugs(flows.flows_instances_list(search=tag, denied_action="continue")) == [f"fb-{tag}"]
    assert slugs(flows.flows_instances_list(search=tag, denied_action="message_continue")) == [f"fc-{tag}"]
    # Filters combine.
    assert slugs(flows.flows_instances_list(designation="recovery", denied_action="message", search=tag)) == [
        f"fa-{tag}"
    ]
    assert slugs(flows.flows_instances_list(flow_uuid=str(a.pk), slug=f"fb-{tag}")) == []
    # An empty value is no filter.
    assert slugs(flows.flows_instances_list(search=tag, name="", slug="")) == [
        f"fa-{tag}", f"fb-{tag}", f"fc-{tag}"
    ]


def test_list_filter_by_unknown_flow_uuid(flows):
    page = flows.flows_instances_list(flow_uuid=str(uuid.uuid4()))
    assert page.results == []
    assert page.pagination.count == 0


def test_search_covers_name_slug_designation_title_and_denied_action(flows, tag):
    new_flow(flows, f"s1-{tag}", name="Login Portal", title="Sign in", designation="authentication")
    new_flow(flows, f"s2-{tag}", name="Other", title="Password Recovery Page", designation="recovery",
             denied_action="message")
    new_flow(flows, f"s3-{tag}", name="Third", title="Bye", designation="unenrollment", denied_action="continue")

    def found(term):
        return sorted(slugs(flows.flows_instances_list(search=f"{tag} {term}")))

    assert found("") == [f"s1-{tag}", f"s2-{tag}", f"s3-{tag}"]
    assert found("portal") == [f"s1-{tag}"]  # name, case-insensitive
    assert found("PASSWORD") == [f"s2-{tag}"]  # title
    assert found("s3-") == [f"s3-{tag}"]  # slug
    assert found("unenroll") == [f"s3-{tag}"]  # designation
    assert found("enroll") == [f"s3-{tag}"]
    assert found("recovery") == [f"s2-{tag}"]  # designation and title
    # denied_action: "message" (s2) and the default "message_continue" (s1) contain "message".
    assert found("message") == [f"s1-{tag}", f"s2-{tag}"]
    assert found("continue") == [f"s1-{tag}", f"s3-{tag}"]
    # All terms must match; commas split terms too.
    assert found("sign,portal") == [f"s1-{tag}"]
    assert found("sign bye") == []
    assert found("nomatch") == []


def test_ordering(flows, tag):
    new_flow(flows, f"o-b-{tag}", name=f"Zed {tag}", designation="recovery", layout="content_left")
    new_flow(flows, f"o-a-{tag}", name=f"Mid {tag}", designation="authentication", layout="sidebar_left")
    new_flow(flows, f"o-c-{tag}", name=f"Abe {tag}", designation="recovery", layout="content_left")

    def order(ordering):
        return slugs(flows.flows_instances_list(search=tag, ordering=ordering))

    a, b, c = f"o-a-{tag}", f"o-b-{tag}", f"o-c-{tag}"
    # Default: by slug.
    assert order(None) == [a, b, c]
    assert order("slug") == [a, b, c]
    assert order("-slug") == [c, b, a]
    assert order("name") == [c, a, b]
    assert order("-name") == [b, a, c]
    assert order("designation,-slug") == [a, c, b]
    assert order("layout,name") == [c, b, a]
    # Unknown names are dropped; with none left the default applies.
    assert order("nonsense") == [a, b, c]
    assert order("stages") == [a, b, c]
    assert order("nonsense,-name") == [b, a, c]
    # Ties are broken by pk.
    by_layout = flows.flows_instances_list(search=tag, ordering="layout").results
    tied = [f for f in by_layout if f.layout == "content_left"]
    assert [str(f.pk) for f in tied] == sorted(str(f.pk) for f in tied)


def test_pages_and_pagination_numbers(flows, tag):
    names = [f"p{i}-{tag}" for i in range(5)]
    for slug in reversed(names):
        new_flow(flows, slug)

    def numbers(page):
        return page.pagination.to_dict()

    first = flows.flows_instances_list(search=tag, page_size=2)
    assert slugs(first) == names[:2]
    assert numbers(first) == {
        "next": 2, "previous": 0, "count": 5, "current": 1, "total_pages": 3,
        "start_index": 1, "end_index": 2,
    }
    second = flows.flows_instances_list(search=tag, page=2, page_size=2)
    assert slugs(second) == names[2:4]
    assert numbers(second) == {
        "next": 3, "previous": 1, "count": 5, "current": 2, "total_pages": 3,
        "start_index": 3, "end_index": 4,
    }
    last = flows.flows_instances_list(search=tag, page=3, page_size=2)
    assert slugs(last) == names[4:]
    assert numbers(last) == {
        "next": 0, "previous": 2, "count": 5, "current": 3, "total_pages": 3,
        "start_index": 5, "end_index": 5,
    }
    everything = flows.flows_instances_list(search=tag)
    assert slugs(everything) == names
    assert everything.pagination.total_pages == 1

    empty = flows.flows_instances_list(search=f"none-{tag}")
    assert empty.results == [] and empty.autocomplete == {}
    assert numbers(empty) == {
        "next": 0, "previous": 0, "count": 0, "current": 1, "total_pages": 1,
        "start_index": 0, "end_index": 0,
    }
    for page in (0, 4):
        with pytest.raises(ApiException) as caught:
            flows.flows_instances_list(search=tag, page=page, page_size=2)
        assert caught.value.status == 404
        assert error_body(caught.value) == {"detail": "Invalid page."}


def test_list_shows_stages_in_binding_order(api, flows, tag):
    target = new_flow(flows, f"ordered-{tag}")
    late = new_stage(api, f"late-{tag}")
    early = new_stage(api, f"early-{tag}")
    new_binding(flows, target.pk, late.pk, 20)
    new_binding(flows, target.pk, early.pk, 10)
    (listed,) = flows.flows_instances_list(slug=f"ordered-{tag}").results
    assert listed.stages == [early.pk, late.pk]
    assert flows.flows_instances_retrieve(f"ordered-{tag}").stages == [early.pk, late.pk]


# --- update -------------------------------------------------------------------------------------


def test_put_with_a_slug_change_keeps_pk_and_bindings(api, flows, tag):
    created = new_flow(flows, f"before-{tag}", layout="sidebar_left", compatibility_mode=True)
    stage = new_stage(api, f"put-stage-{tag}")
    binding = new_binding(flows, created.pk, stage.pk, 5)

    response = flows.flows_instances_update_with_http_info(
        f"before-{tag}",
        flow_request(f"after-{tag}", name="Renamed", title="New title", designation="authorization",
                     denied_action="message"),
    )
    assert response.status_code == 200
    updated = response.data
    assert updated.pk == created.pk
    assert updated.policybindingmodel_ptr_id == created.policybindingmodel_ptr_id
    assert updated.slug == f"after-{tag}"
    assert (updated.name, updated.title, updated.designation) == ("Renamed", "New title", "authorization")
    assert updated.denied_action == "message"
    assert updated.export_url == f"/api/v3/flows/instances/after-{tag}/export/"
    assert updated.stages == [stage.pk]
    # Optional keys left out of a PUT keep their stored values.
    assert updated.layout == "sidebar_left"
    assert updated.compatibility_mode is True
    assert list(json.loads(response.raw_data)) == FLOW_KEYS

    assert flows.flows_instances_retrieve(f"after-{tag}") == updated
    with pytest.raises(ApiException) as caught:
        flows.flows_instances_retrieve(f"before-{tag}")
    assert caught.value.status == 404
    # The binding is the same row, now shown under the new slug.
    assert flows.flows_bindings_retrieve(str(binding.pk)).target == created.pk
    assert [f.slug for f in api.stages_captcha_retrieve(str(stage.pk)).flow_set] == [f"after-{tag}"]
    # The old slug is free again.
    assert new_flow(flows, f"before-{tag}").pk != created.pk


def test_put_keeps_own_slug(flows, tag):
    created = new_flow(flows, f"same-{tag}")
    updated = flows.flows_instances_update(f"same-{tag}", flow_request(f"same-{tag}", title="Retitled"))
    assert updated.pk == created.pk
    assert updated.title == "Retitled"


def test_patch_changes_only_given_keys(flows, tag):
    created = new_flow(flows, f"patch-{tag}", layout="content_left", authentication="require_outpost")
    response = flows.flows_instances_partial_update_with_http_info(
        f"patch-{tag}", PatchedFlowRequest(title="Patched", policy_engine_mode="all")
    )
    assert response.status_code == 200
    patched = response.data
    assert patched.title == "Patched"
    assert patched.policy_engine_mode == "all"
    assert patched.model_dump(exclude={"title", "policy_engine_mode"}) == created.model_dump(
        exclude={"title", "policy_engine_mode"}
    )
    assert flows.flows_instances_retrieve(f"patch-{tag}") == patched

    renamed = flows.flows_instances_partial_update(f"patch-{tag}", PatchedFlowRequest(slug=f"patched-{tag}"))
    assert renamed.pk == created.pk
    assert renamed.export_url == f"/api/v3/flows/instances/patched-{tag}/export/"
    # An empty PATCH changes nothing.
    assert flows.flows_instances_partial_update(f"patched-{tag}") == renamed


# --- destroy ------------------------------------------------------------------------------------


def test_destroy_removes_bindings_and_no_stage(api, flows, tag):
    doomed = new_flow(flows, f"doomed-{tag}")
    other = new_flow(flows, f"survivor-{tag}")
    one = new_stage(api, f"d1-{tag}")
    two = new_stage(api, f"d2-{tag}")
    gone = [new_binding(flows, doomed.pk, one.pk, 1), new_binding(flows, doomed.pk, two.pk, 2)]
    kept = new_binding(flows, other.pk, one.pk, 1)

    response = flows.flows_instances_destroy_with_http_info(f"doomed-{tag}")
    assert response.status_code == 204
    assert response.raw_data == b""

    with pytest.raises(ApiException) as caught:
        flows.flows_instances_retrieve(f"doomed-{tag}")
    assert caught.value.status == 404
    assert error_body(caught.value) == {"detail": "No Flow matches the given query."}
    with pytest.raises(ApiException) as caught:
        flows.flows_instances_destroy(f"doomed-{tag}")
    assert caught.value.status == 404

    for binding in gone:
        with pytest.raises(ApiException) as caught:
            flows.flows_bindings_retrieve(str(binding.pk))
        assert caught.value.status == 404
    assert flows.flows_bindings_list(target=str(doomed.pk)).results == []
    # The stages stay, bound only where they still are.
    assert [f.slug for f in api.stages_captcha_retrieve(str(one.pk)).flow_set] == [f"survivor-{tag}"]
    assert api.stages_captcha_retrieve(str(two.pk)).flow_set == []
    still = flows.flows_bindings_retrieve(str(kept.pk))
    assert still.model_dump(exclude={"stage_obj"}) == kept.model_dump(exclude={"stage_obj"})
    assert [f.slug for f in still.stage_obj.flow_set] == [f"survivor-{tag}"]


# --- used_by ------------------------------------------------------------------------------------


def test_used_by_of_an_unbound_flow_is_empty(flows, tag):
    new_flow(flows, f"lonely-{tag}")
    response = flows.flows_instances_used_by_list_with_http_info(f"lonely-{tag}")
    assert response.status_code == 200
    assert response.data == []
    assert json.loads(response.raw_data) == []


def test_used_by_lists_bindings_then_stages(api, flows, tag):
    target = new_flow(flows, f"used-{tag}")
    first = new_stage(api, f"First {tag}")
    second = new_stage(api, f"Second {tag}")
    late = new_binding(flows, target.pk, first.pk, 30)
    early = new_binding(flows, target.pk, second.pk, 7)

    response = flows.flows_instances_used_by_list_with_http_info(f"used-{tag}")
    assert response.status_code == 200
    raw = json.loads(response.raw_data)
    for entry in raw:
        assert list(entry) == ["app", "model_name", "pk", "name", "action"]
    assert [e["model_name"] for e in raw] == ["flowstagebinding", "flowstagebinding", "stage", "stage"]
    assert raw[:2] == [
        {"app": "authentik_flows", "model_name": "flowstagebinding", "pk": str(early.pk),
         "name": f"Flow-stage binding #7 to {target.pk}", "action": "cascade"},
        {"app": "authentik_flows", "model_name": "flowstagebinding", "pk": str(late.pk),
         "name": f"Flow-stage binding #30 to {target.pk}", "action": "cascade"},
    ]
    assert sorted(raw[2:], key=lambda e: e["name"]) == [
        {"app": "authentik_flows", "model_name": "stage", "pk": str(first.pk),
         "name": f"Stage First {tag}", "action": "cascade_many"},
        {"app": "authentik_flows", "model_name": "stage", "pk": str(second.pk),
         "name": f"Stage Second {tag}", "action": "cascade_many"},
    ]
    # The client's parsed view agrees.
    assert [(e.model_name, e.action) for e in response.data] == [
        ("flowstagebinding", "cascade"), ("flowstagebinding", "cascade"),
        ("stage", "cascade_many"), ("stage", "cascade_many"),
    ]


def test_used_by_of_a_flow_made_through_a_stage_flow_set(api, flows, tag):
    stage = new_stage(api, f"fs-owner-{tag}", flow_set=[flow(f"fs-made-{tag}")])
    (made,) = stage.flow_set
    entries = flows.flows_instances_used_by_list(f"fs-made-{tag}")
    assert [(e.model_name, e.name) for e in entries] == [
        ("flowstagebinding", f"Flow-stage binding #0 to {made.pk}"),
        ("stage", f"Stage fs-owner-{tag}"),
    ]
    assert entries[1].pk == str(stage.pk)
