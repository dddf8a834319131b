"""Creates stages (each bound into a flow), flows and flow-stage bindings on the running server and
writes schemathesis config files that feed their ids and slugs to the operations taking them, so
the fuzzing reaches real objects and not only 404s: most cases use a seeded value, the rest a
generated one.

    python seed.py OUT_DIR    (needs STAGES_API_URL and STAGES_API_TOKEN)

Writes OUT_DIR/rest.toml (the OpenAPI runs: schemathesis dictionaries bound to `stage_uuid`,
`slug`, `fsb_uuid` and to the `target`/`stage` of binding bodies), OUT_DIR/graphql.toml (the
same for GraphQL's `slug` arguments), and OUT_DIR/ids.json, which hooks.py reads
(STAGES_SEEDED_IDS) for its GraphQL `UUID` scalar strategy (schemathesis binds dictionaries to
built-in scalars only). The token is not written: the config files read it from
STAGES_API_TOKEN when schemathesis loads them.

Each run seeds objects of its own: fuzzed DELETEs remove some, fuzzed PUTs rename flows.
"""

import json
import os
import sys
import uuid
from pathlib import Path

import requests

KEPT = 4
DELETABLE = 6


def create_stage(api: str, session: requests.Session, label: str) -> str:
    tag = uuid.uuid4().hex[:10]
    body = {
        "name": f"seed-{label}-{tag}",
        "public_key": f"pub-{tag}",
        "private_key": f"key-{tag}",
        "flow_set": [{"name": "Seed", "slug": f"seed-{tag}", "title": "Seed", "designation": "authentication"}],
    }
    response = session.post(f"{api}/stages/captcha/", json=body, timeout=30)
    response.raise_for_status()
    return response.json()["pk"]


def create_flow(api: str, session: requests.Session, label: str) -> dict:
    slug = f"seed-{label}-{uuid.uuid4().hex[:10]}"
    body = {"name": f"Seed {label}", "slug": slug, "title": "Seed", "designation": "authentication"}
    response = session.post(f"{api}/flows/instances/", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def create_binding(api: str, session: requests.Session, flow: str, stage: str, order: int) -> str:
    body = {"target": flow, "stage": stage, "order": order}
    response = session.post(f"{api}/flows/bindings/", json=body, timeout=30)
    response.raise_for_status()
    return response.json()["pk"]


def toml_list(values: list[str]) -> str:
    return json.dumps(values)


def operations(operation_ids: list[str], bindings: dict[str, tuple[str, float]]) -> str:
    parameters = ", ".join(
        f'"{key}" = {{ dictionary = "{dictionary}", probability = {probability} }}'
        for key, (dictionary, probability) in bindings.items()
    )
    return f"[[operations]]\ninclude-operation-id = {json.dumps(operation_ids)}\nparameters = {{ {parameters} }}\n\n"


def main(out_dir: Path) -> None:
    api = os.environ["STAGES_API_URL"].rstrip("/") + "/api/v3"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {os.environ['STAGES_API_TOKEN']}"
    kept = [create_stage(api, session, "kept") for _ in range(KEPT)]
    deletable = [create_stage(api, session, "deletable") for _ in range(DELETABLE)]
    # Flows: each kept flow has a binding to a kept stage (so `stages` and used_by are not
    # empty); the deletable bindings bind kept stages into kept flows at other orders.
    flows = [create_flow(api, session, "flow") for _ in range(KEPT)]
    deletable_flows = [create_flow(api, session, "doomed") for _ in range(DELETABLE)]
    bindings = [create_binding(api, session, flow["pk"], stage, 10) for flow, stage in zip(flows, kept)]
    deletable_bindings = [
        create_binding(api, session, flows[i % KEPT]["pk"], kept[(i + 1) % KEPT], 100 + i) for i in range(DELETABLE)
    ]
    header = (
        "# Written by seed.py for one run; ids and slugs of the running server.\n"
        'headers = { Authorization = "Bearer ${STAGES_API_TOKEN}" }\n\n'
        f"[dictionaries.stages]\nvalues = {toml_list(kept)}\n\n"
        f"[dictionaries.deletable]\nvalues = {toml_list(deletable)}\n\n"
        f"[dictionaries.flow_slugs]\nvalues = {toml_list([f['slug'] for f in flows])}\n\n"
        f"[dictionaries.deletable_flow_slugs]\nvalues = {toml_list([f['slug'] for f in deletable_flows])}\n\n"
        f"[dictionaries.flow_ids]\nvalues = {toml_list([f['pk'] for f in flows])}\n\n"
        f"[dictionaries.bindings]\nvalues = {toml_list(bindings)}\n\n"
        f"[dictionaries.deletable_bindings]\nvalues = {toml_list(deletable_bindings)}\n\n"
    )
    binding_body = {"body.target": ("flow_ids", 0.8), "body.stage": ("stages", 0.8)}
    rest = (
        header
        + operations(
            ["stages_captcha_retrieve", "stages_captcha_update", "stages_captcha_partial_update",
             "stages_captcha_used_by_list"],
            {"path.stage_uuid": ("stages", 0.8)},
        )
        + operations(["stages_captcha_destroy"], {"path.stage_uuid": ("deletable", 0.5)})
        + operations(
            ["flows_instances_retrieve", "flows_instances_partial_update", "flows_instances_used_by_list"],
            {"path.slug": ("flow_slugs", 0.8)},
        )
        # A PUT needs a slug in its body: mostly a seeded one, so that most flows keep theirs.
        + operations(["flows_instances_update"], {"path.slug": ("flow_slugs", 0.8), "body.slug": ("flow_slugs", 0.7)})
        + operations(["flows_instances_destroy"], {"path.slug": ("deletable_flow_slugs", 0.5)})
        + operations(["flows_instances_list"], {"query.flow_uuid": ("flow_ids", 0.3), "query.slug": ("flow_slugs", 0.3)})
        + operations(["flows_bindings_create"], binding_body)
        + operations(
            ["flows_bindings_retrieve", "flows_bindings_update", "flows_bindings_partial_update",
             "flows_bindings_used_by_list"],
            {"path.fsb_uuid": ("bindings", 0.8), **binding_body},
        )
        + operations(["flows_bindings_destroy"], {"path.fsb_uuid": ("deletable_bindings", 0.5)})
        + operations(["flows_bindings_list"], {"query.target": ("flow_ids", 0.3), "query.stage": ("stages", 0.3)})
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "rest.toml").write_text(rest)
    graphql_slugs = {
        key: {"dictionary": "flow_slugs", "probability": 0.8}
        for key in ("Query.flow.slug", "Mutation.updateFlow.slug", "Mutation.replaceFlow.slug")
    }
    graphql = (
        header
        + "[parameters]\n"
        + "".join(f'"{key}" = {{ dictionary = "{v["dictionary"]}", probability = {v["probability"]} }}\n'
                  for key, v in graphql_slugs.items())
        + '"Mutation.deleteFlow.slug" = { dictionary = "deletable_flow_slugs", probability = 0.5 }\n'
    )
    (out_dir / "graphql.toml").write_text(graphql)
    ids = {
        "kept": kept + [f["pk"] for f in flows] + bindings,
        "deletable": deletable + [f["pk"] for f in deletable_flows] + deletable_bindings,
    }
    (out_dir / "ids.json").write_text(json.dumps(ids) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
