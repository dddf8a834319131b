"""Flows and flow-stage bindings through gql (flows-api.md section 5): flow(slug | id), flows(...),
createFlow, updateFlow, replaceFlow, deleteFlow, flowStageBinding, flowStageBindings,
createFlowStageBinding, updateFlowStageBinding, deleteFlowStageBinding, the Stage interface
(`... on CaptchaStage`) and Flow.stageBindings, with REST as the second witness."""

import json
import urllib.request

BACKGROUND = "/static/dist/assets/images/flow_background.jpg"


def rest_get(service, path):
    request = urllib.request.Request(
        f"{service.base_url}{path}", headers={"Authorization": f"Bearer {service.token}"}
    )
    with urllib.request.urlopen(request) as response:
        return response.status, json.loads(response.read())


def flow_input(slug, **extra):
    return {"name": f"Flow {slug}", "slug": slug, "title": f"Title {slug}",
            "designation": "AUTHENTICATION", **extra}


def create_flow(api, slug, **extra):
    return api.run("CreateFlow", input=flow_input(slug, **extra))["createFlow"]


def create_stage(api, name):
    stage_input = {"name": name, "publicKey": f"pub-{name}", "privateKey": "secret"}
    return api.run("CreateCaptchaStage", input=stage_input)["createCaptchaStage"]


def bind(api, target, stage, order, **extra):
    binding_input = {"target": target, "stage": stage, "order": order, **extra}
    return api.run("CreateFlowStageBinding", input=binding_input)["createFlowStageBinding"]


# --- flows --------------------------------------------------------------------------------------


def test_create_flow_defaults_and_rest_agrees(api, service, tag):
    flow = create_flow(api, f"gf-{tag}")
    assert flow["slug"] == f"gf-{tag}"
    assert flow["name"] == f"Flow gf-{tag}"
    assert flow["title"] == f"Title gf-{tag}"
    assert flow["designation"] == "AUTHENTICATION"
    assert flow["background"] == BACKGROUND
    assert flow["policies"] == []
    assert flow["cacheCount"] == 0
    assert flow["policyEngineMode"] == "ANY"
    assert flow["compatibilityMode"] is False
    assert flow["exportUrl"] == f"/api/v3/flows/instances/gf-{tag}/export/"
    assert flow["layout"] == "STACKED"
    assert flow["deniedAction"] == "MESSAGE_CONTINUE"
    assert flow["authentication"] == "NONE"
    assert flow["stages"] == [] and flow["stageBindings"] == []
    assert flow["id"] != flow["policybindingmodelPtrId"]

    status, body = rest_get(service, f"/api/v3/flows/instances/gf-{tag}/")
    assert status == 200
    assert (body["pk"], body["policybindingmodel_ptr_id"]) == (flow["id"], flow["policybindingmodelPtrId"])
    assert (body["designation"], body["layout"], body["authentication"]) == ("authentication", "stacked", "none")


def test_create_flow_with_every_field(api, tag):
    flow = create_flow(
        api, f"gfull-{tag}", designation="STAGE_CONFIGURATION", policyEngineMode="ALL",
        compatibilityMode=True, layout="SIDEBAR_RIGHT", deniedAction="CONTINUE",
        authentication="REQUIRE_REDIRECT",
    )
    assert (flow["designation"], flow["policyEngineMode"], flow["compatibilityMode"]) == (
        "STAGE_CONFIGURATION", "ALL", True)
    assert (flow["layout"], flow["deniedAction"], flow["authentication"]) == (
        "SIDEBAR_RIGHT", "CONTINUE", "REQUIRE_REDIRECT")


def test_flow_by_slug_and_by_id(api, tag):
    created = create_flow(api, f"gget-{tag}", layout="CONTENT_LEFT")
    by_slug = api.run("Flow", slug=f"gget-{tag}")["flow"]
    by_id = api.run("Flow", id=created["id"])["flow"]
    assert by_slug == by_id
    assert by_slug["id"] == created["id"]
    assert by_slug["layout"] == "CONTENT_LEFT"
    assert api.run("Flow", slug=f"none-{tag}") == {"flow": None}
    assert api.run("Flow", id="00000000-0000-4000-8000-000000000000") == {"flow": None}


def test_flow_stages_interface_and_stage_bindings(api, tag):
    flow = create_flow(api, f"gif-{tag}")
    late = create_stage(api, f"late-{tag}")
    early = create_stage(api, f"early-{tag}")
    bind(api, flow["id"], late["id"], 20, invalidResponseAction="RESTART")
    bind(api, flow["id"], early["id"], 10, evaluateOnPlan=True, reEvaluatePolicies=False)

    got = api.run("Flow", slug=f"gif-{tag}")["flow"]
    assert [s["id"] for s in got["stages"]] == [early["id"], late["id"]]
    first = got["stages"][0]
    assert first == {
        "__typename": "CaptchaStage",
        "id": early["id"],
        "name": f"early-{tag}",
        "component": "ak-stage-captcha-form",
        "flowSet": [{"slug": f"gif-{tag}"}],
        "publicKey": f"pub-early-{tag}",
        "verboseName": "Captcha Stage",
        "metaModelName": "authentik_stages_captcha.captchastage",
    }
    assert [(b["order"], b["stage"]["name"], b["target"]["slug"]) for b in got["stageBindings"]] == [
        (10, f"early-{tag}", f"gif-{tag}"),
        (20, f"late-{tag}", f"gif-{tag}"),
    ]
    assert [(b["evaluateOnPlan"], b["reEvaluatePolicies"], b["invalidResponseAction"], b["policyEngineMode"])
            for b in got["stageBindings"]] == [(True, False, "RETRY", "ANY"), (False, True, "RESTART", "ANY")]


def test_flows_filters_search_ordering_pages(api, tag):
    a = create_flow(api, f"gl-a-{tag}", name=f"Alpha {tag}", designation="RECOVERY", deniedAction="MESSAGE")
    create_flow(api, f"gl-b-{tag}", name=f"Beta {tag}", title="Sign up", designation="ENROLLMENT")
    create_flow(api, f"gl-c-{tag}", name=f"Gamma {tag}", designation="RECOVERY", deniedAction="CONTINUE")

    def slugs(**arguments):
        return [f["slug"] for f in api.run("Flows", **arguments)["flows"]["results"]]

    all_three = [f"gl-a-{tag}", f"gl-b-{tag}", f"gl-c-{tag}"]
    assert slugs(search=tag) == all_three
    assert slugs(flowUuid=a["id"]) == [f"gl-a-{tag}"]
    assert slugs(name=f"Beta {tag}") == [f"gl-b-{tag}"]
    assert slugs(name=f"beta {tag}") == []
    assert slugs(slug=f"gl-c-{tag}") == [f"gl-c-{tag}"]
    assert slugs(search=tag, designation="RECOVERY") == [f"gl-a-{tag}", f"gl-c-{tag}"]
    assert slugs(search=tag, deniedAction="CONTINUE") == [f"gl-c-{tag}"]
    assert slugs(search=tag, designation="RECOVERY", deniedAction="MESSAGE") == [f"gl-a-{tag}"]
    assert slugs(search=f"{tag} SIGN") == [f"gl-b-{tag}"]
    assert slugs(search=f"{tag} gamma") == [f"gl-c-{tag}"]
    assert slugs(search=tag, ordering="-slug") == all_three[::-1]
    assert slugs(search=tag, ordering="designation,-name") == [f"gl-b-{tag}", f"gl-c-{tag}", f"gl-a-{tag}"]
    assert slugs(search=tag, ordering="nonsense") == all_three

    page = api.run("Flows", search=tag, page=2, pageSize=2)["flows"]
    assert [f["slug"] for f in page["results"]] == [f"gl-c-{tag}"]
    assert page["pagination"] == {"next": 0, "previous": 1, "count": 3, "current": 2, "totalPages": 2,
                                  "startIndex": 3, "endIndex": 3}
    first = api.run("Flows", search=tag, pageSize=2)["flows"]
    assert first["pagination"] == {"next": 2, "previous": 0, "count": 3, "current": 1, "totalPages": 2,
                                   "startIndex": 1, "endIndex": 2}
    assert first["results"][0]["designation"] == "RECOVERY"
    assert first["results"][0]["deniedAction"] == "MESSAGE"


def test_update_flow_changes_only_given_fields(api, tag):
    created = create_flow(api, f"gup-{tag}", layout="CONTENT_RIGHT")
    updated = api.run("UpdateFlow", slug=f"gup-{tag}",
                      input={"title": "Patched", "authentication": "REQUIRE_SUPERUSER"})["updateFlow"]
    assert updated["id"] == created["id"]
    assert (updated["title"], updated["authentication"]) == ("Patched", "REQUIRE_SUPERUSER")
    assert (updated["name"], updated["layout"], updated["slug"]) == (created["name"], "CONTENT_RIGHT", f"gup-{tag}")
    moved = api.run("UpdateFlow", slug=f"gup-{tag}", input={"slug": f"gup2-{tag}"})["updateFlow"]
    assert moved["id"] == created["id"]
    assert moved["exportUrl"] == f"/api/v3/flows/instances/gup2-{tag}/export/"
    assert api.run("Flow", slug=f"gup-{tag}") == {"flow": None}


def test_replace_flow_with_a_slug_change_keeps_id_and_bindings(api, service, tag):
    created = create_flow(api, f"grep-{tag}", compatibilityMode=True)
    stage = create_stage(api, f"grep-{tag}")
    binding = bind(api, created["id"], stage["id"], 3)
    replaced = api.run(
        "ReplaceFlow", slug=f"grep-{tag}",
        input=flow_input(f"grep2-{tag}", name="Replaced", designation="AUTHORIZATION", layout="SIDEBAR_LEFT"),
    )["replaceFlow"]
    assert (replaced["id"], replaced["policybindingmodelPtrId"]) == (created["id"], created["policybindingmodelPtrId"])
    assert (replaced["slug"], replaced["name"], replaced["designation"]) == (f"grep2-{tag}", "Replaced", "AUTHORIZATION")
    assert replaced["layout"] == "SIDEBAR_LEFT"
    assert replaced["stages"] == [{"id": stage["id"], "name": f"grep-{tag}"}]
    assert replaced["stageBindings"] == [{"id": binding["id"], "order": 3}]
    # The stage's flowSet shows the new slug; REST has the same binding.
    got = api.run("CaptchaStage", id=stage["id"])["captchaStage"]
    assert [f["slug"] for f in got["flowSet"]] == [f"grep2-{tag}"]
    status, body = rest_get(service, f"/api/v3/flows/bindings/{binding['id']}/")
    assert status == 200 and body["target"] == created["id"]


def test_delete_flow_removes_bindings_not_stages(api, tag):
    flow = create_flow(api, f"gdel-{tag}")
    stage = create_stage(api, f"gdel-{tag}")
    binding = bind(api, flow["id"], stage["id"], 1)
    assert api.run("DeleteFlow", slug=f"gdel-{tag}") == {"deleteFlow": flow["id"]}
    assert api.run("Flow", slug=f"gdel-{tag}") == {"flow": None}
    assert api.run("FlowStageBinding", id=binding["id"]) == {"flowStageBinding": None}
    got = api.run("CaptchaStage", id=stage["id"])["captchaStage"]
    assert got["name"] == f"gdel-{tag}"
    assert got["flowSet"] == []


# --- bindings -----------------------------------------------------------------------------------


def test_create_binding_defaults_and_concrete_stage(api, service, tag):
    flow = create_flow(api, f"gb-{tag}")
    stage = create_stage(api, f"gb-{tag}")
    binding = bind(api, flow["id"], stage["id"], 7)
    assert binding["order"] == 7
    assert binding["evaluateOnPlan"] is False
    assert binding["reEvaluatePolicies"] is True
    assert binding["policyEngineMode"] == "ANY"
    assert binding["invalidResponseAction"] == "RETRY"
    assert binding["target"] == {"id": flow["id"], "slug": f"gb-{tag}"}
    assert binding["stage"] == {
        "__typename": "CaptchaStage",
        "id": stage["id"],
        "name": f"gb-{tag}",
        "component": "ak-stage-captcha-form",
        "verboseName": "Captcha Stage",
        "metaModelName": "authentik_stages_captcha.captchastage",
        "flowSet": [{"slug": f"gb-{tag}"}],
    }
    assert binding["id"] not in (binding["policybindingmodelPtrId"], flow["id"], stage["id"])
    # REST shows the same row.
    status, body = rest_get(service, f"/api/v3/flows/bindings/{binding['id']}/")
    assert status == 200
    assert (body["target"], body["stage"], body["order"]) == (flow["id"], stage["id"], 7)
    assert body["stage_obj"]["component"] == "ak-stage-captcha-form"


def test_flow_stage_binding_query(api, tag):
    flow = create_flow(api, f"gbq-{tag}")
    stage = create_stage(api, f"gbq-{tag}")
    created = bind(api, flow["id"], stage["id"], 2, policyEngineMode="ALL",
                   invalidResponseAction="RESTART_WITH_CONTEXT")
    got = api.run("FlowStageBinding", id=created["id"])["flowStageBinding"]
    assert got["id"] == created["id"]
    assert (got["policyEngineMode"], got["invalidResponseAction"]) == ("ALL", "RESTART_WITH_CONTEXT")
    assert got["target"] == {"id": flow["id"], "slug": f"gbq-{tag}", "stages": [{"id": stage["id"]}]}
    assert got["stage"]["__typename"] == "CaptchaStage"
    assert (got["stage"]["publicKey"], got["stage"]["interactive"]) == (f"pub-gbq-{tag}", False)
    assert api.run("FlowStageBinding", id="00000000-0000-4000-8000-000000000000") == {
        "flowStageBinding": None}


def test_flow_stage_bindings_list(api, tag):
    one = create_flow(api, f"gbl1-{tag}")
    two = create_flow(api, f"gbl2-{tag}")
    alpha = create_stage(api, f"alpha {tag}")
    beta = create_stage(api, f"beta {tag}")
    b1 = bind(api, one["id"], alpha["id"], 10)
    b2 = bind(api, one["id"], beta["id"], 5)
    b3 = bind(api, two["id"], alpha["id"], 1)

    def ids(**arguments):
        return [b["id"] for b in api.run("FlowStageBindings", **arguments)["flowStageBindings"]["results"]]

    assert ids(target=one["id"]) == [b2["id"], b1["id"]]
    assert ids(stage=alpha["id"]) == [b3["id"], b1["id"]]
    assert ids(search=tag, order=10) == [b1["id"]]
    assert ids(search=f"BETA {tag}") == [b2["id"]]
    assert ids(search=tag) == [b3["id"], b2["id"], b1["id"]]
    assert ids(search=tag, ordering="-order") == [b1["id"], b2["id"], b3["id"]]
    assert ids(search=tag, ordering="nonsense") == [b3["id"], b2["id"], b1["id"]]
    page = api.run("FlowStageBindings", search=tag, page=2, pageSize=2)["flowStageBindings"]
    assert [(b["order"], b["target"]["slug"], b["stage"]["name"]) for b in page["results"]] == [
        (10, f"gbl1-{tag}", f"alpha {tag}")]
    assert page["pagination"] == {"next": 0, "previous": 1, "count": 3, "current": 2, "totalPages": 2,
                                  "startIndex": 3, "endIndex": 3}


def test_update_and_delete_binding(api, tag):
    one = create_flow(api, f"gbu1-{tag}")
    two = create_flow(api, f"gbu2-{tag}")
    stage = create_stage(api, f"gbu-{tag}")
    created = bind(api, one["id"], stage["id"], 1, evaluateOnPlan=True)
    updated = api.run("UpdateFlowStageBinding", id=created["id"],
                      input={"target": two["id"], "order": 4, "invalidResponseAction": "RESTART"})
    updated = updated["updateFlowStageBinding"]
    assert updated == {
        "id": created["id"], "order": 4, "evaluateOnPlan": True, "reEvaluatePolicies": True,
        "policyEngineMode": "ANY", "invalidResponseAction": "RESTART",
        "target": {"slug": f"gbu2-{tag}"}, "stage": {"name": f"gbu-{tag}"},
    }
    assert api.run("Flow", slug=f"gbu1-{tag}")["flow"]["stages"] == []
    assert [s["id"] for s in api.run("Flow", slug=f"gbu2-{tag}")["flow"]["stages"]] == [stage["id"]]

    assert api.run("DeleteFlowStageBinding", id=created["id"]) == {"deleteFlowStageBinding": created["id"]}
    assert api.run("FlowStageBinding", id=created["id"]) == {"flowStageBinding": None}
    assert api.run("Flow", slug=f"gbu2-{tag}")["flow"]["stages"] == []
    assert api.run("CaptchaStage", id=stage["id"])["captchaStage"]["flowSet"] == []


def test_flow_set_bindings_show_as_bindings(api, tag):
    stage = api.run("CreateCaptchaStage", input={
        "name": f"gfs-{tag}", "publicKey": "p", "privateKey": "s",
        "flowSet": [flow_input(f"gfs-{tag}")],
    })["createCaptchaStage"]
    (flow,) = stage["flowSet"]
    (binding,) = api.run("FlowStageBindings", stage=stage["id"])["flowStageBindings"]["results"]
    assert binding["order"] == 0
    assert binding["target"] == {"slug": f"gfs-{tag}"}
    assert binding["stage"] == {"id": stage["id"], "name": f"gfs-{tag}"}
    # Deleting the stage removes the binding; the flow stays.
    api.run("DeleteCaptchaStage", id=stage["id"])
    assert api.run("FlowStageBindings", stage=stage["id"])["flowStageBindings"]["results"] == []
    assert api.run("Flow", id=flow["id"])["flow"]["stageBindings"] == []
