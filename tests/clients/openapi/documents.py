"""The two OpenAPI documents this suite works with: stages-api's (openapi.json, as the code builds
it) and authentik's own (schema.yml inside the npm package @goauthentik/api@2025.10.4), cut down
to the operations this service serves (`/stages/captcha/`, and the base CRUD and used_by of
`/flows/instances/` and `/flows/bindings/`) and the components they reach. authentik's other
flows operations (import, export, diagram, execute, set_background*, cache_*, executor,
inspector) are not served (they answer 404) and are left out.

Run as a script, writes cut-down documents for schemathesis:
    python documents.py captcha authentik-captcha.json
    python documents.py flows authentik-flows.json
"""

import copy
import functools
import json
import sys
from pathlib import Path

import yaml

SUITE_DIR = Path(__file__).resolve().parent
REPO_ROOT = SUITE_DIR.parents[2]
OURS_FILE = REPO_ROOT / "openapi.json"
AUTHENTIK_FILE = SUITE_DIR / "node_modules" / "@goauthentik" / "api" / "schema.yml"
AUTHENTIK_VERSION = "2025.10.4"
CAPTCHA_PATHS = (
    "/stages/captcha/",
    "/stages/captcha/{stage_uuid}/",
    "/stages/captcha/{stage_uuid}/used_by/",
)
FLOWS_PATHS = (
    "/flows/instances/",
    "/flows/instances/{slug}/",
    "/flows/instances/{slug}/used_by/",
    "/flows/bindings/",
    "/flows/bindings/{fsb_uuid}/",
    "/flows/bindings/{fsb_uuid}/used_by/",
)
SERVED_PATHS = CAPTCHA_PATHS + FLOWS_PATHS
# Path sets for the script (one cut-down document per schemathesis run).
PATH_SETS = {"captcha": CAPTCHA_PATHS, "flows": FLOWS_PATHS, "served": SERVED_PATHS}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# The component schemas the issue names; both documents must define each of them.
NAMED_SCHEMAS = (
    "CaptchaStage",
    "CaptchaStageRequest",
    "PatchedCaptchaStageRequest",
    "FlowSet",
    "FlowSetRequest",
    "PaginatedCaptchaStageList",
    "Pagination",
    "UsedBy",
    "ValidationError",
    "GenericError",
    # flows-api.md: flows, bindings, the Stage a binding shows, and their enums.
    "Flow",
    "FlowRequest",
    "PatchedFlowRequest",
    "FlowStageBinding",
    "FlowStageBindingRequest",
    "PatchedFlowStageBindingRequest",
    "Stage",
    "PaginatedFlowList",
    "PaginatedFlowStageBindingList",
    "Autocomplete",
    "FlowDesignationEnum",
    "FlowLayoutEnum",
    "DeniedActionEnum",
    "AuthenticationEnum",
    "PolicyEngineMode",
    "InvalidResponseActionEnum",
    "UsedByActionEnum",
)


def load_ours() -> dict:
    return json.loads(OURS_FILE.read_text())


@functools.cache
def load_authentik_full() -> dict:
    """authentik's whole document, parsed once per process: callers must not change it."""
    if not AUTHENTIK_FILE.exists():
        raise RuntimeError(f"{AUTHENTIK_FILE} is missing: run `npm ci` in {SUITE_DIR}")
    # CSafeLoader when PyYAML has it: the full document is 1.5 MB.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with AUTHENTIK_FILE.open() as f:
        doc = yaml.load(f, Loader=loader)
    assert doc["info"]["version"] == AUTHENTIK_VERSION, doc["info"]["version"]
    return doc


def _refs(node):
    """Every `$ref` string inside `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def restrict(doc: dict, paths=SERVED_PATHS) -> dict:
    """`doc` with only `paths` and the components they reach."""
    out = {key: copy.deepcopy(value) for key, value in doc.items() if key not in ("paths", "components")}
    missing = set(paths) - set(doc["paths"])
    assert not missing, f"authentik's document has no {sorted(missing)}"
    out["paths"] = {path: copy.deepcopy(item) for path, item in doc["paths"].items() if path in paths}
    components = doc["components"]
    kept: dict[str, dict] = {}
    pending = list(_refs(out["paths"]))
    # Security schemes are named, not referenced.
    schemes = {name for item in out["paths"].values() for op in item.values() for req in op.get("security", []) for name in req}
    while pending:
        ref = pending.pop()
        assert ref.startswith("#/components/"), ref
        _, _, section, name = ref.split("/", 3)
        if name in kept.setdefault(section, {}):
            continue
        target = components[section][name]
        kept[section][name] = copy.deepcopy(target)
        pending.extend(_refs(target))
    kept["securitySchemes"] = {name: copy.deepcopy(components["securitySchemes"][name]) for name in schemes}
    out["components"] = kept
    return out


def load_authentik(paths=SERVED_PATHS) -> dict:
    return restrict(load_authentik_full(), paths)


def resolve(doc: dict, node):
    """`node` with a top-level `$ref` followed (repeatedly)."""
    while isinstance(node, dict) and "$ref" in node:
        _, _, section, name = node["$ref"].split("/", 3)
        node = doc["components"][section][name]
    return node


def operations(doc: dict):
    """(path, method, operation) for every operation in `doc`."""
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


if __name__ == "__main__":
    which, out_file = sys.argv[1:]
    Path(out_file).write_text(json.dumps(load_authentik(PATH_SETS[which]), indent=2) + "\n")
