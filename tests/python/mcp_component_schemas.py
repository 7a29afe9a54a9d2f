"""keboola-mcp-server (from PyPI) reads component definitions from kbstack's Storage API: its
Storage client fetches keboola.flow and keboola.mcp-server-tool, its ComponentAPIResponse model
parses them, and its flow validator checks conditional flows against the keboola.flow
configurationSchema kbstack serves (the schema the MCP server no longer bundles and fetches live).
Run by tests/component_registry.rs."""
import asyncio
import json
import os
from importlib import resources

from keboola_mcp_server.clients.storage import AsyncStorageClient
from keboola_mcp_server.tools.components.api_models import ComponentAPIResponse
from keboola_mcp_server.tools.validation import validate_flow_configuration_against_schema


async def main() -> None:
    url = os.environ["KBSTACK_URL"]
    client = AsyncStorageClient.create(root_url=url, token=os.environ["KBSTACK_TOKEN"], branch_id="default")
    flow = ComponentAPIResponse.model_validate(await client.component_detail("keboola.flow"))
    schema = flow.configuration_schema
    assert schema and schema.get("required") == ["phases", "tasks"], schema
    flow_config = {
        "phases": [{"id": "p1", "name": "Extract", "next": [{"id": "t1", "goto": "p2"}]}, {"id": "p2", "name": "End", "next": []}],
        "tasks": [{"id": "k1", "name": "runner", "phase": "p1", "enabled": True,
                   "task": {"type": "job", "componentId": "keboola.runner-config-test", "configId": "1", "mode": "run"}}],
    }
    validate_flow_configuration_against_schema(flow_config, "keboola.flow", schema=schema)
    try:
        validate_flow_configuration_against_schema({"phases": []}, "keboola.flow", schema=schema)
        raise AssertionError("a flow without tasks must be refused")
    except Exception as e:  # the validator's RecoverableValidationError
        assert "tasks" in str(e), e
    # The server's own examples: most validate; one uses an older notification-recipient form the
    # live schema no longer allows, so only a count is reported.
    examples = resources.files("keboola_mcp_server.resources.flow_examples") / "conditional_flow_examples.jsonl"
    passed = failed = 0
    for line in examples.read_text().splitlines():
        if line.strip():
            try:
                validate_flow_configuration_against_schema(json.loads(line), "keboola.flow", schema=schema)
                passed += 1
            except Exception:
                failed += 1
    assert passed > 0, (passed, failed)
    checked = f"{passed} of {passed + failed} examples"
    tool = ComponentAPIResponse.model_validate(await client.component_detail("keboola.mcp-server-tool"))
    assert tool.type == "application", tool
    print("mcp component schemas ok", checked)


asyncio.run(main())
