"""FlowsApi's other operations (import, export, diagram, execute, set_background*, cache_*,
inspector) are not built here: flows-api.md section 1 says they answer 404
`{"detail": "Not found."}`. Each is called through the generated client against an existing flow."""

import pytest
from authentik_client import FilePathRequest
from authentik_client.exceptions import ApiException

from helpers import error_body, new_flow

NOT_FOUND = {"detail": "Not found."}

CALLS = [
    pytest.param(lambda flows, slug: flows.flows_instances_export_retrieve(slug), id="export"),
    pytest.param(lambda flows, slug: flows.flows_instances_diagram_retrieve(slug), id="diagram"),
    pytest.param(lambda flows, slug: flows.flows_instances_execute_retrieve(slug), id="execute"),
    pytest.param(
        lambda flows, slug: flows.flows_instances_set_background_create(slug, clear=True), id="set_background"
    ),
    pytest.param(
        lambda flows, slug: flows.flows_instances_set_background_url_create(
            slug, FilePathRequest(url="https://example.invalid/bg.jpg")
        ),
        id="set_background_url",
    ),
    pytest.param(lambda flows, slug: flows.flows_inspector_get(slug), id="inspector"),
    pytest.param(
        lambda flows, slug: flows.flows_instances_cache_info_retrieve(),
        id="cache_info",
    ),
    pytest.param(
        lambda flows, slug: flows.flows_instances_cache_clear_create(),
        id="cache_clear",
    ),
    pytest.param(
        lambda flows, slug: flows.flows_instances_import_create(file=b"{}", clear=False),
        id="import",
    ),
]


@pytest.mark.parametrize("call", CALLS)
def test_unbuilt_operation_is_404_not_found(flows, tag, call):
    new_flow(flows, f"unbuilt-{tag}")
    with pytest.raises(ApiException) as caught:
        call(flows, f"unbuilt-{tag}")
    assert caught.value.status == 404, caught.value.body
    assert error_body(caught.value) == NOT_FOUND
    # The flow is untouched.
    assert flows.flows_instances_retrieve(f"unbuilt-{tag}").slug == f"unbuilt-{tag}"
