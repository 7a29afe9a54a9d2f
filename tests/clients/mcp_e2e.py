"""keboola-mcp-server 1.105.1 tools against kbstack, run by tests/clients/mcp.sh inside a private
network namespace. The server is built as its integration tests build it (`create_server(Config)`,
fastmcp's in-memory `Client(server)`, `call_tool`), so every tool runs through the MCP server's own
Keboola clients and its host-name rewriting (connection. -> queue., encryption., scheduler.,
sync-actions., query.). The project is seeded with kbcstorage as the integration tests seed theirs.
Each step checks the tool results' content; every step runs; failures are listed at the end."""
import asyncio
import json
import os
import sys
import time
import traceback

from fastmcp import Client
from kbcstorage.client import Client as StorageClient

from keboola_mcp_server.config import Config, ServerRuntimeInfo
from keboola_mcp_server.server import create_server

URL = os.environ["KBC_TEST_API_URL"]
TOKEN = os.environ["KBC_TEST_TOKEN"]
WORK = os.environ["E2E_WORK"]
BUCKET = "in.c-mcp_bucket"
TABLE = f"{BUCKET}.customers"
RUNNER = "keboola.runner-config-test"
FLOW = "keboola.flow"

state: dict = {}  # ids created by one step and used by later ones


class ToolFailed(AssertionError):
    pass


async def call(client: Client, tool: str, args: dict | None = None):
    """Calls an MCP tool; returns its structured result (or parsed text); raises with the tool's
    error text when the tool reports an error."""
    res = await client.call_tool(tool, args or {}, raise_on_error=False)
    text = "\n".join(getattr(c, "text", "") for c in res.content)
    if res.is_error:
        raise ToolFailed(f"{tool} failed: {text[:3000]}")
    if os.environ.get("MCP_E2E_VERBOSE"):
        print(f"---- {tool} {dump(args)[:300]}\n{text[:1500]}", flush=True)
    if res.structured_content is not None:
        out = res.structured_content
        # fastmcp wraps non-object results as {"result": ...}
        return out.get("result", out) if isinstance(out, dict) and set(out) == {"result"} else out
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def dump(value) -> str:
    return json.dumps(value, default=str)


def find_dicts(value, key, expected):
    """Every dict anywhere in `value` whose `key` is `expected`."""
    if isinstance(value, dict):
        if value.get(key) == expected:
            yield value
        for v in value.values():
            yield from find_dicts(v, key, expected)
    elif isinstance(value, list):
        for v in value:
            yield from find_dicts(v, key, expected)


def seed_project():
    """What the integration tests' `keboola_project` fixture does: buckets, a table from a CSV
    file and configurations, through kbcstorage."""
    sapi = StorageClient(URL, TOKEN)
    sapi.buckets.create("mcp_bucket", stage="in", description="bucket for the MCP e2e")
    path = os.path.join(WORK, "customers.csv")
    with open(path, "w") as f:
        f.write("id,name,city\n1,Alice,Prague\n2,Bob,Brno\n3,Carol,Prague\n")
    sapi.tables.create(bucket_id=BUCKET, name="customers", file_path=path, primary_key=["id"])
    cfg = sapi.configurations.create(component_id=RUNNER, name="mcp runner config",
                                     configuration={"parameters": {"operation": "success", "logs": ["hello from the mcp e2e"]}})
    state["runner_config"] = str(cfg["id"])


async def step_project_info(c):
    info = await call(c, "get_project_info")
    # Snowflake: tokens report defaultBackend snowflake and the MCP workspace is a "snowflake" one.
    assert info["sql_dialect"] == "Snowflake", info
    assert info["conditional_flows"] is True and info["is_development_branch"] is False, info
    assert str(info["project_id"]) == "1" and info["workspace_id"], info


async def step_buckets(c):
    out = await call(c, "get_buckets")
    assert BUCKET in dump(out), out
    detail = await call(c, "get_buckets", {"bucket_ids": [BUCKET]})
    assert "bucket for the MCP e2e" in dump(detail), detail


async def step_tables(c):
    listed = await call(c, "get_tables", {"bucket_ids": [BUCKET]})
    assert TABLE in dump(listed), listed
    detail = await call(c, "get_tables", {"table_ids": [TABLE]})
    table = detail["tables"][0]
    assert table["id"] == TABLE and table["rows_count"] == 3 and table["primary_key"] in ("id", ["id"]), table
    assert [col["name"] for col in table["columns"]] == ["id", "name", "city"], table
    assert all(col["database_native_type"] == "VARCHAR" for col in table["columns"]), table


async def step_search(c):
    # config-based search lists configurations through Storage; textual search is the
    # `global-search` endpoint.
    found = await call(c, "search", {"patterns": ["success"], "search_type": "config-based"})
    assert state["runner_config"] in dump(found), found
    found = await call(c, "search", {"patterns": ["customers"], "item_types": ["table"]})
    assert TABLE in dump(found), found


async def step_components(c):
    out = await call(c, "get_components", {"component_ids": [RUNNER, "keboola.ex-http"]})
    text = dump(out)
    assert RUNNER in text and "keboola.ex-http" in text, out
    configs = await call(c, "get_configs", {"component_ids": [RUNNER]})
    assert state["runner_config"] in dump(configs), configs


async def step_configurations(c):
    created = await call(c, "create_config", {
        "name": "mcp config", "description": "made by the MCP e2e", "component_id": "keboola.ex-http",
        "parameters": {"baseUrl": "https://example.com/", "path": "data.csv", "#token": "mcp-plain-secret"},
        "storage": {"output": {"tables": [{"source": "data.csv", "destination": "in.c-http.data"}]}},
    })
    config_id = str(created["configuration_id"])
    state["http_config"] = config_id
    await call(c, "update_config", {
        "change_description": "switch path", "component_id": "keboola.ex-http", "configuration_id": config_id,
        "parameter_updates": [{"op": "set", "path": "path", "value": "other.csv"}],
    })
    await call(c, "add_config_row", {
        "name": "row one", "description": "a row", "component_id": "keboola.ex-http",
        "configuration_id": config_id, "parameters": {"path": "row.csv"},
    })
    got = await call(c, "get_configs", {"configs": [{"component_id": "keboola.ex-http", "configuration_id": config_id}]})
    rows = [r for r in find_dicts(got, "name", "row one") if "configuration_row_id" in r]
    assert rows and "row.csv" in dump(rows[0]), got
    row_id = str(rows[0]["configuration_row_id"])
    await call(c, "update_config_row", {
        "change_description": "row path", "component_id": "keboola.ex-http", "configuration_id": config_id,
        "configuration_row_id": row_id, "parameter_updates": [{"op": "set", "path": "path", "value": "row2.csv"}],
    })
    got = await call(c, "get_configs", {"configs": [{"component_id": "keboola.ex-http", "configuration_id": config_id}]})
    text = dump(got)
    assert "other.csv" in text and "row2.csv" in text, got


async def step_encrypted_secrets(c):
    """A `#` value the MCP server saved is stored encrypted (Storage encrypts `#` keys on save)."""
    sapi = StorageClient(URL, TOKEN)
    stored = sapi.configurations.detail("keboola.ex-http", state["http_config"])
    secret = stored["configuration"]["parameters"]["#token"]
    assert secret.startswith("KBC::"), stored
    assert "mcp-plain-secret" not in dump(stored), stored
    # ...and the MCP server's own view of it shows no plaintext either.
    got = await call(c, "get_configs", {"configs": [{"component_id": "keboola.ex-http",
                                                     "configuration_id": state["http_config"]}]})
    assert "mcp-plain-secret" not in dump(got), got


async def step_sql_transformations(c):
    created = await call(c, "create_sql_transformation", {
        "name": "mcp tf", "description": "made by the MCP e2e",
        "sql_code_blocks": [{"name": "prague", "script":
                             'CREATE TABLE "prague" AS SELECT "id", "name" FROM "customers" WHERE "city" = \'Prague\';'}],
        "created_table_names": ["prague"],
    })
    text = dump(created)
    assert "keboola.snowflake-transformation" in text, created
    config_id = str(created["configuration_id"])
    state["tf_config"] = config_id
    got = await call(c, "get_configs", {"configs": [{"component_id": "keboola.snowflake-transformation",
                                                     "configuration_id": config_id}]})
    blocks = got
    assert "prague" in dump(blocks), got
    await call(c, "update_sql_transformation", {
        "change_description": "rename code", "configuration_id": config_id,
        "parameter_updates": [{"op": "str_replace", "search_for": "Prague", "replace_with": "Brno"}],
    })
    got = await call(c, "get_configs", {"configs": [{"component_id": "keboola.snowflake-transformation",
                                                     "configuration_id": config_id}]})
    scripts = dump([code["script"] for block in find_dicts(got, "name", "prague") for code in [block]
                    if "script" in code])
    assert "Brno" in scripts and "Prague" not in scripts, got
    stored = StorageClient(URL, TOKEN).configurations.detail("keboola.snowflake-transformation", config_id)
    assert stored["configuration"]["storage"]["output"]["tables"][0]["source"] == "prague", stored
    assert "Brno" in dump(stored["configuration"]["parameters"]["blocks"]), stored


async def step_query_data(c):
    """The tool path: MCP workspace (keboola.mcp-server-tool config + read-only workspace), the
    Query service at https://query.<suffix>, paged results."""
    out = await call(c, "query_data", {"sql_query": "SELECT 'Alice' AS \"name\", 2 AS \"n\"",
                                       "query_name": "constant"})
    text = dump(out)
    assert "Alice" in text, out


async def step_query_data_storage_table(c):
    """A Storage table read through the read-only workspace, as an agent queries one."""
    out = await call(c, "query_data", {"sql_query": f'SELECT "name" FROM "{BUCKET}"."customers" ORDER BY "id"',
                                       "query_name": "customers"})
    text = dump(out)
    assert "Alice" in text and "Carol" in text, out


async def step_flows(c):
    schema = await call(c, "get_flow_schema", {"flow_type": FLOW})
    assert "phases" in dump(schema) and "tasks" in dump(schema), str(schema)[:500]
    examples = await call(c, "get_flow_examples", {"flow_type": FLOW})
    assert "phases" in dump(examples), str(examples)[:500]
    created = await call(c, "create_conditional_flow", {
        "name": "mcp flow", "description": "made by the MCP e2e",
        "phases": [{"id": "p1", "name": "Run", "next": [{"id": "t1", "goto": None}]}],
        "tasks": [{"id": "k1", "name": "runner", "phase": "p1", "enabled": True,
                   "task": {"type": "job", "componentId": RUNNER, "configId": state["runner_config"], "mode": "run"}}],
    })
    flow_id = str(created["configuration_id"])
    state["flow"] = flow_id
    await call(c, "modify_flow", {
        "configuration_id": flow_id, "flow_type": FLOW, "change_description": "rename", "name": "mcp flow renamed",
    })
    flows = await call(c, "get_flows", {"flow_ids": [flow_id]})
    assert "mcp flow renamed" in dump(flows), flows
    await call(c, "modify_flow", {
        "configuration_id": flow_id, "flow_type": FLOW, "change_description": "schedule it",
        "schedules": [{"action": "add", "cron_tab": "0 8 * * 1-5", "state": "enabled", "timezone": "UTC"}],
    })
    flows = await call(c, "get_flows", {"flow_ids": [flow_id]})
    assert "0 8 * * 1-5" in dump(flows), flows


async def step_run_job_and_logs(c):
    job = await call(c, "run_job", {"component_id": RUNNER, "configuration_id": state["runner_config"]})
    job_id = str(job["id"])
    detail = job
    for _ in range(600):
        listed = await call(c, "get_jobs", {"job_ids": [job_id], "include_logs": True})
        text = dump(listed)
        if '"success"' in text or '"error"' in text:
            detail = listed
            break
        await asyncio.sleep(0.2)
    job = detail["jobs"][0]
    assert job["status"] == "success", detail
    assert "hello from the mcp e2e" in [line["message"] for line in job["logs"]], job
    found = await call(c, "get_jobs", {"component_id": RUNNER, "config_id": state["runner_config"]})
    assert job_id in dump(found), found


async def step_run_sync_action(c):
    out = await call(c, "run_sync_action", {"action_name": "dumpConfig", "component_id": RUNNER,
                                            "configuration_id": state["runner_config"]})
    text = dump(out)
    assert "dumpConfig" in text and "hello from the mcp e2e" in text, out


async def step_semantic_layer(c):
    """The semantic tools against the Metastore (metastore.<suffix>): hidden until the project has a
    semantic model, then search, context, schema and query validation over objects seeded through
    the Metastore's own API (the MCP server only reads the semantic layer)."""
    import httpx
    base = URL.replace("connection.", "metastore.", 1) + "/api/v1/repository"
    with httpx.Client(headers={"X-StorageApi-Token": TOKEN}, verify=os.environ.get("SSL_CERT_FILE") or True) as h:
        def post(object_type, name, data):
            r = h.post(f"{base}/{object_type}", json={"name": name, "data": data, "branch": "main", "scope": "project"})
            assert r.status_code == 201, r.text
            return r.json()["data"]["id"]
        model = post("semantic-model", "mcp_model", {"name": "mcp_model", "sql_dialect": "Snowflake"})
        post("semantic-dataset", "customers", {"name": "customers", "tableId": TABLE, "modelUUID": model,
                                              "fqn": '"KBSTACK"."in.c-mcp_bucket"."customers"'})
        metric = post("semantic-metric", "customer_count", {"name": "customer_count", "sql": "COUNT(DISTINCT customers.id)",
                                                           "dataset": TABLE, "modelUUID": model})
        post("semantic-glossary", "churn", {"term": "churn", "definition": "Customers lost in a period", "modelUUID": model})
    tools = {t.name for t in await c.list_tools()}
    assert {"search_semantic_context", "get_semantic_context", "get_semantic_schema", "validate_semantic_query"} <= tools, tools
    found = await call(c, "search_semantic_context", {"patterns": ["customer_.*"]})
    assert "customer_count" in dump(found), found
    context = await call(c, "get_semantic_context", {"semantic_objects": [{"object_type": "semantic-metric", "ids": [metric]}],
                                                     "semantic_model_ids": [model]})
    assert "COUNT(DISTINCT customers.id)" in dump(context), context
    listed = await call(c, "get_semantic_context", {"semantic_objects": [{"object_type": "semantic-glossary", "ids": []}]})
    assert "churn" in dump(listed), listed
    schema = await call(c, "get_semantic_schema", {"semantic_types": ["semantic-glossary"]})
    assert "1.0.0" in dump(schema), schema
    # Datasets are detected by their fqn in the SQL (a heuristic of the MCP server).
    sql = 'SELECT COUNT(DISTINCT customers.id) FROM "KBSTACK"."in.c-mcp_bucket"."customers" customers'
    checked = await call(c, "validate_semantic_query", {"sql_query": sql, "semantic_model_ids": [model]})
    assert "customers" in dump(checked["validation_auto_detected"]["used_datasets"]), checked


async def step_ai_service(c):
    """The AI service (ai.<suffix>): component suggestions from kbstack's full-text index, component
    details and configuration examples from its registry, documentation answers by retrieval."""
    found = await call(c, "find_component_id", {"query": "SQL transformation in DuckDB"})
    assert "keboola.duckdb-transformation" in dump(found), found
    first = found[0] if isinstance(found, list) else (found.get("result") or found)[0]
    assert first["component_id"] == "keboola.duckdb-transformation", found
    details = await call(c, "get_components", {"component_ids": ["keboola.duckdb-transformation"]})
    assert "DuckDB SQL" in dump(details) and "blocks" in dump(details), details
    examples = await call(c, "get_config_examples", {"component_id": "keboola.duckdb-transformation"})
    assert "Configuration Examples" in dump(examples), examples
    answer = await call(c, "docs_query", {"query": "How do I configure TLS host names for the MCP server?"})
    assert "Host names and TLS" in dump(answer), answer
    assert "/docs/sources/readme#" in dump(answer), answer


async def step_data_app(c):
    """The Data Science service (data-science.<suffix>): a Streamlit app made with the MCP server's own
    tool (its config encrypted, its query_data code injected), deployed, listed as running with its
    runs, and answering through kbstack's proxy behind its password."""
    import httpx
    source = "import streamlit as st\n\n{QUERY_DATA_FUNCTION}\n\nst.title('kbstack MCP data app')\n"
    made = await call(c, "modify_streamlit_data_app", {"name": "MCP app", "description": "made by the MCP e2e",
                                                       "source_code": source, "packages": [], "authentication_type": "basic-auth"})
    cfg = made["data_app"]["configuration_id"]
    app_id = made["data_app"]["data_app_id"]
    await call(c, "deploy_data_app", {"action": "deploy", "configuration_id": cfg})
    deadline = time.monotonic() + 150
    while True:
        got = await call(c, "get_data_apps", {"configuration_ids": [cfg]})
        detail = got["data_apps"][0]
        if detail["state"] == "running":
            break
        assert detail["state"] in ("starting", "running"), got
        assert time.monotonic() < deadline, got
        await asyncio.sleep(1)
    assert "kbstack MCP data app" in dump(detail["configuration"]), detail
    url = detail["deployment_url"]
    ds = URL.replace("connection.", "data-science.", 1).rstrip("/")
    async with httpx.AsyncClient(timeout=60) as http:
        password = (await http.get(f"{ds}/apps/{app_id}/password", headers={"X-StorageApi-Token": TOKEN})).json()["password"]
        assert (await http.get(url)).status_code == 401
        health = await http.get(f"{url}_stcore/health", auth=("kbstack", password))
        assert health.status_code == 200 and health.text.strip() == "ok", (health.status_code, health.text)
    listed = await call(c, "get_data_apps", {})
    assert any(a["configuration_id"] == cfg for a in listed["data_apps"]), listed
    await call(c, "deploy_data_app", {"action": "stop", "configuration_id": cfg})
async def step_streams(c):
    """The Data Streams tools against the Stream API (stream.<suffix>): create_stream makes an HTTP
    source with a sink mapping a JSON path; an event sent to its endpoint (stream-in.<suffix>)
    reaches the table; get_streams lists it with its sink."""
    import httpx
    columns = [{"name": "id", "type": "uuid"}, {"name": "user", "type": "path", "path": "user.id", "rawString": True},
               {"name": "body", "type": "body"}]
    created = await call(c, "create_stream", {"name": "MCP events", "source_type": "http",
                                              "table_id": "in.c-mcp-stream.events", "columns": columns})
    source_id = created["source_id"]
    endpoint = created["endpoint_url"]
    assert endpoint.startswith("https://stream-in."), created
    assert created["sinks"][0]["table_id"] == "in.c-mcp-stream.events", created
    with httpx.Client(verify=os.environ.get("SSL_CERT_FILE") or True) as h:
        r = h.post(endpoint, json={"user": {"id": "u-1"}})
        assert r.status_code == 200 and r.text == "OK", r.text
    listed = dump(await call(c, "get_streams", {"source_ids": [source_id]}))
    assert source_id in listed and "in.c-mcp-stream.events" in listed, listed


async def main():
    only = sys.argv[1:]
    seed_project()
    server = create_server(Config(storage_api_url=URL, storage_token=TOKEN),
                           runtime_info=ServerRuntimeInfo(transport="stdio"))
    steps = [(name, fn) for name, fn in globals().items() if name.startswith("step_")]
    failed = []
    async with Client(server) as client:
        tools = {t.name for t in await client.list_tools()}
        assert {"get_project_info", "query_data", "run_job"} <= tools, tools
        for name, fn in steps:
            if only and name not in only:
                continue
            start = time.monotonic()
            try:
                await fn(client)
                print(f"ok    {name} ({time.monotonic() - start:.1f}s)", flush=True)
            except Exception:
                print(f"FAIL  {name}\n{traceback.format_exc()}", flush=True)
                failed.append(name)
    ran = len([n for n, _ in steps if not only or n in only])
    print(f"mcp e2e: {ran - len(failed)} passed, {len(failed)} failed {failed or ''}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    asyncio.run(main())
