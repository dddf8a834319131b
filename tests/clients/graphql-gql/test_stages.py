"""The captcha-stage operations through gql: create (with flowSet), read, list with paging,
update, replace, delete, Flow.stages and usedBy."""

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
    return {
        "name": f"Flow {slug}",
        "slug": slug,
        "title": f"Title {slug}",
        "designation": "AUTHENTICATION",
        **extra,
    }


def create(api, name, **extra):
    stage_input = {"name": name, "publicKey": f"pub-{name}", "privateKey": "secret", **extra}
    return api.run("CreateCaptchaStage", input=stage_input)["createCaptchaStage"]


def test_create_with_flow_set(api, service, tag):
    stage = create(
        api,
        f"create-{tag}",
        flowSet=[
            flow_input(f"a-{tag}"),
            flow_input(f"b-{tag}", layout="SIDEBAR_LEFT", deniedAction="CONTINUE",
                       policyEngineMode="ALL", compatibilityMode=True),
        ],
    )
    assert stage["name"] == f"create-{tag}"
    assert stage["component"] == "ak-stage-captcha-form"
    assert stage["verboseName"] == "Captcha Stage"
    assert stage["verboseNamePlural"] == "Captcha Stages"
    assert stage["metaModelName"] == "authentik_stages_captcha.captchastage"
    assert stage["publicKey"] == f"pub-create-{tag}"
    assert stage["jsUrl"] == "https://www.recaptcha.net/recaptcha/api.js"
    assert stage["apiUrl"] == "https://www.recaptcha.net/recaptcha/api/siteverify"
    assert stage["interactive"] is False
    assert stage["scoreMinThreshold"] == 0.5
    assert stage["scoreMaxThreshold"] == 1.0
    assert stage["errorOnInvalidScore"] is True

    first, second = sorted(stage["flowSet"], key=lambda flow: flow["slug"])
    assert first["slug"] == f"a-{tag}"
    assert first["name"] == f"Flow a-{tag}"
    assert first["title"] == f"Title a-{tag}"
    assert first["designation"] == "AUTHENTICATION"
    assert first["policyEngineMode"] == "ANY"
    assert first["compatibilityMode"] is False
    assert first["layout"] == "STACKED"
    assert first["deniedAction"] == "MESSAGE_CONTINUE"
    assert first["background"] == BACKGROUND
    assert first["exportUrl"] == f"/api/v3/flows/instances/a-{tag}/export/"
    assert first["id"] != first["policybindingmodelPtrId"]
    assert (second["layout"], second["deniedAction"]) == ("SIDEBAR_LEFT", "CONTINUE")
    assert (second["policyEngineMode"], second["compatibilityMode"]) == ("ALL", True)

    # The same stage through REST: one resolver layer under both.
    status, body = rest_get(service, f"/api/v3/stages/captcha/{stage['id']}/")
    assert status == 200
    assert body["pk"] == stage["id"]
    assert body["name"] == stage["name"]
    assert sorted(flow["slug"] for flow in body["flow_set"]) == [f"a-{tag}", f"b-{tag}"]
    assert "private_key" not in body


def test_captcha_stage_query(api, tag):
    created = create(api, f"query-{tag}", interactive=True, scoreMinThreshold=0.25,
                     flowSet=[flow_input(f"q-{tag}")])
    stage = api.run("CaptchaStage", id=created["id"])["captchaStage"]
    assert stage["id"] == created["id"]
    assert stage["name"] == f"query-{tag}"
    assert stage["interactive"] is True
    assert stage["scoreMinThreshold"] == 0.25
    assert [flow["slug"] for flow in stage["flowSet"]] == [f"q-{tag}"]


def test_captcha_stage_unknown_id_is_null(api):
    result = api.run("CaptchaStage", id="00000000-0000-4000-8000-000000000000")
    assert result == {"captchaStage": None}


def test_captcha_stages_paging(api, tag):
    names = [f"page-{tag}-{i}" for i in range(1, 6)]
    for name in reversed(names):
        create(api, name)

    def page(number, size=2, **extra):
        return api.run("CaptchaStages", search=f"page-{tag}", page=number, pageSize=size,
                       **extra)["captchaStages"]

    first = page(1)
    assert first["pagination"] == {"next": 2, "previous": 0, "count": 5, "current": 1,
                                   "totalPages": 3, "startIndex": 1, "endIndex": 2}
    assert [s["name"] for s in first["results"]] == names[:2]  # default ordering: name
    second = page(2)
    assert second["pagination"] == {"next": 3, "previous": 1, "count": 5, "current": 2,
                                    "totalPages": 3, "startIndex": 3, "endIndex": 4}
    assert [s["name"] for s in second["results"]] == names[2:4]
    last = page(3)
    assert last["pagination"] == {"next": 0, "previous": 2, "count": 5, "current": 3,
                                  "totalPages": 3, "startIndex": 5, "endIndex": 5}
    assert [s["name"] for s in last["results"]] == names[4:]

    # pageSize absent → 20: everything on one page.
    everything = api.run("CaptchaStages", search=f"page-{tag}")["captchaStages"]
    assert everything["pagination"]["totalPages"] == 1
    assert everything["pagination"]["endIndex"] == 5
    assert [s["name"] for s in everything["results"]] == names

    # ordering and the exact filters.
    descending = page(1, size=5, ordering="-name")
    assert [s["name"] for s in descending["results"]] == names[::-1]
    by_name = api.run("CaptchaStages", name=names[2])["captchaStages"]
    assert [s["name"] for s in by_name["results"]] == [names[2]]
    by_key = api.run("CaptchaStages", publicKey=f"pub-{names[3]}")["captchaStages"]
    assert [s["name"] for s in by_key["results"]] == [names[3]]


def test_captcha_stages_empty(api, tag):
    empty = api.run("CaptchaStages", search=f"nothing-{tag}", page=1)["captchaStages"]
    assert empty == {
        "pagination": {"next": 0, "previous": 0, "count": 0, "current": 1, "totalPages": 1,
                       "startIndex": 0, "endIndex": 0},
        "results": [],
    }


def test_update_captcha_stage(api, tag):
    created = create(api, f"update-{tag}", flowSet=[flow_input(f"u-{tag}")])
    updated = api.run("UpdateCaptchaStage", id=created["id"],
                      input={"publicKey": "new-public", "scoreMaxThreshold": 0.9})
    stage = updated["updateCaptchaStage"]
    assert stage["id"] == created["id"]
    assert stage["publicKey"] == "new-public"
    assert stage["scoreMaxThreshold"] == 0.9
    # PATCH semantics: what was not given is unchanged, bindings included.
    assert stage["name"] == f"update-{tag}"
    assert stage["scoreMinThreshold"] == 0.5
    assert [flow["slug"] for flow in stage["flowSet"]] == [f"u-{tag}"]

    # A bound slug updates its flow; a new slug creates one; an unnamed binding goes.
    flows = [flow_input(f"u-{tag}", title="Renamed"), flow_input(f"u2-{tag}")]
    stage = api.run("UpdateCaptchaStage", id=created["id"],
                    input={"flowSet": flows})["updateCaptchaStage"]
    assert sorted((f["slug"], f["title"]) for f in stage["flowSet"]) == [
        (f"u-{tag}", "Renamed"), (f"u2-{tag}", f"Title u2-{tag}")]
    stage = api.run("UpdateCaptchaStage", id=created["id"],
                    input={"flowSet": [flow_input(f"u2-{tag}")]})["updateCaptchaStage"]
    assert [f["slug"] for f in stage["flowSet"]] == [f"u2-{tag}"]

    fetched = api.run("CaptchaStage", id=created["id"])["captchaStage"]
    assert fetched["publicKey"] == "new-public"


def test_replace_captcha_stage(api, tag):
    created = create(api, f"replace-{tag}", interactive=True, flowSet=[flow_input(f"r-{tag}")])
    replaced = api.run(
        "ReplaceCaptchaStage",
        id=created["id"],
        input={
            "name": f"replaced-{tag}",
            "publicKey": "pk2",
            "privateKey": "sk2",
            "jsUrl": "https://captcha.example/api.js",
            "flowSet": [flow_input(f"r-{tag}", layout="CONTENT_RIGHT")],
        },
    )["replaceCaptchaStage"]
    assert replaced["id"] == created["id"]
    assert replaced["name"] == f"replaced-{tag}"
    assert replaced["publicKey"] == "pk2"
    assert replaced["jsUrl"] == "https://captcha.example/api.js"
    # PUT: optional fields left out keep their stored values.
    assert replaced["interactive"] is True
    assert replaced["apiUrl"] == "https://www.recaptcha.net/recaptcha/api/siteverify"
    assert [(f["slug"], f["layout"]) for f in replaced["flowSet"]] == [
        (f"r-{tag}", "CONTENT_RIGHT")]


def test_delete_captcha_stage(api, service, tag):
    created = create(api, f"delete-{tag}", flowSet=[flow_input(f"d-{tag}")])
    assert api.run("DeleteCaptchaStage", id=created["id"]) == {"deleteCaptchaStage": created["id"]}
    assert api.run("CaptchaStage", id=created["id"]) == {"captchaStage": None}
    # The stage's flow stays; only the binding went.
    flow = api.run("FlowStages", slug=f"d-{tag}")["flow"]
    assert flow["slug"] == f"d-{tag}"
    assert flow["stages"] == []


def test_flow_stages(api, tag):
    one = create(api, f"fs1-{tag}", flowSet=[flow_input(f"shared-{tag}")])
    two = create(api, f"fs2-{tag}", flowSet=[flow_input(f"other-{tag}")])
    # Binding an existing flow goes through update (create refuses an existing slug).
    api.run("UpdateCaptchaStage", id=two["id"],
            input={"flowSet": [flow_input(f"other-{tag}"), flow_input(f"more-{tag}")]})
    flow = api.run("FlowStages", slug=f"shared-{tag}")["flow"]
    assert flow["slug"] == f"shared-{tag}"
    assert flow["designation"] == "AUTHENTICATION"
    assert [(s["id"], s["name"]) for s in flow["stages"]] == [(one["id"], f"fs1-{tag}")]
    assert flow["stages"][0]["flowSet"] == [{"slug": f"shared-{tag}"}]
    more = api.run("FlowStages", slug=f"more-{tag}")["flow"]
    assert [s["id"] for s in more["stages"]] == [two["id"]]
    assert api.run("FlowStages", slug=f"none-{tag}") == {"flow": None}


def test_used_by(api, tag):
    unbound = create(api, f"unbound-{tag}")
    assert api.run("UsedBy", id=unbound["id"])["captchaStage"]["usedBy"] == []

    bound = create(api, f"bound-{tag}", flowSet=[flow_input(f"ub-{tag}")])
    stage = api.run("UsedBy", id=bound["id"])["captchaStage"]
    (flow,) = stage["flowSet"]
    used_by = stage["usedBy"]
    assert len(used_by) == 2, used_by
    by_model = {entry["modelName"]: entry for entry in used_by}
    assert by_model["flow"] == {
        "app": "authentik_flows",
        "modelName": "flow",
        "pk": flow["id"],
        "name": f"Flow Flow ub-{tag} (ub-{tag})",
        "action": "CASCADE_MANY",
    }
    binding = by_model["flowstagebinding"]
    assert binding["app"] == "authentik_flows"
    assert binding["action"] == "CASCADE"
    assert binding["name"] == f"Flow-stage binding #0 to {flow['id']}"
    assert binding["pk"] not in (flow["id"], bound["id"])
