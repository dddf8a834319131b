"""Creates stages (each bound into a flow) on the running server and writes schemathesis config
files that feed their ids to the operations taking a stage id, so the fuzzing reaches real stages
and not only 404s: most cases use a seeded id, the rest a generated one.

    python seed.py OUT_DIR    (needs STAGES_API_URL and STAGES_API_TOKEN)

Writes OUT_DIR/rest.toml (both OpenAPI runs: schemathesis dictionaries bound to `stage_uuid`),
OUT_DIR/graphql.toml, and OUT_DIR/ids.json, which hooks.py reads (STAGES_SEEDED_IDS) for its
GraphQL `UUID` scalar strategy (schemathesis binds dictionaries to built-in scalars only). The
token is not written: the config files read it from STAGES_API_TOKEN when schemathesis loads them.
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


def toml_list(values: list[str]) -> str:
    return json.dumps(values)


def main(out_dir: Path) -> None:
    api = os.environ["STAGES_API_URL"].rstrip("/") + "/api/v3"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {os.environ['STAGES_API_TOKEN']}"
    kept = [create_stage(api, session, "kept") for _ in range(KEPT)]
    deletable = [create_stage(api, session, "deletable") for _ in range(DELETABLE)]
    header = (
        "# Written by seed.py for one run; stage ids of the running server.\n"
        'headers = { Authorization = "Bearer ${STAGES_API_TOKEN}" }\n\n'
        f"[dictionaries.stages]\nvalues = {toml_list(kept)}\n\n"
        f"[dictionaries.deletable]\nvalues = {toml_list(deletable)}\n\n"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "rest.toml").write_text(
        header
        + "[[operations]]\n"
        + 'include-operation-id = ["stages_captcha_retrieve", "stages_captcha_update", '
        + '"stages_captcha_partial_update", "stages_captcha_used_by_list"]\n'
        + 'parameters = { "path.stage_uuid" = { dictionary = "stages", probability = 0.8 } }\n\n'
        + "[[operations]]\n"
        + 'include-operation-id = "stages_captcha_destroy"\n'
        + 'parameters = { "path.stage_uuid" = { dictionary = "deletable", probability = 0.5 } }\n'
    )
    (out_dir / "graphql.toml").write_text(header.split("\n[dictionaries")[0] + "\n")
    (out_dir / "ids.json").write_text(json.dumps({"kept": kept, "deletable": deletable}) + "\n")

if __name__ == "__main__":
    main(Path(sys.argv[1]))
