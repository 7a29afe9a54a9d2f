"""keboola-mcp-server's Query Service client (clients/query.py, from PyPI) against kbstack's
Query service, as its `query_data` tool uses it: submit with the real branch id, poll, page the
results (pages of at least 100 rows), cancel. Run by tests/query_service_python.rs."""
import asyncio
import os

from keboola_mcp_server.clients.query import QueryServiceClient


async def main() -> None:
    client = QueryServiceClient.create(
        root_url=os.environ["KBSTACK_URL"] + "/query", branch_id=os.environ["KBSTACK_BRANCH"], token=os.environ["KBSTACK_TOKEN"]
    )
    ws = os.environ["KBSTACK_WORKSPACE"]
    job_id = await client.submit_job(statements=["SELECT range AS n FROM range(150)"], workspace_id=ws)
    for _ in range(600):
        status = await client.get_job_status(job_id)
        if status["status"] in ("completed", "failed", "canceled"):
            break
        await asyncio.sleep(0.05)
    assert status["status"] == "completed", status
    statement_id = status["statements"][0]["id"]
    first = await client.get_job_results(job_id, statement_id, offset=0, limit=100)
    assert first["status"] == "completed" and "message" in first, first
    assert [c["name"] for c in first["columns"]] == ["n"] and first["numberOfRows"] == 150, first
    second = await client.get_job_results(job_id, statement_id, offset=100, limit=100)
    assert len(first["data"]) == 100 and [r[0] for r in second["data"]][:2] == ["100", "101"], second
    long_job = await client.submit_job(
        statements=["SELECT count(*) FROM range(10000000000) a, range(100) b WHERE a.range * b.range = -1"], workspace_id=ws
    )
    await client.cancel_job(long_job, "MCP tool call cancelled")
    for _ in range(600):
        status = await client.get_job_status(long_job)
        if status["status"] in ("completed", "failed", "canceled"):
            break
        await asyncio.sleep(0.05)
    assert status["status"] == "canceled", status
    print("mcp query client ok", job_id)


asyncio.run(main())
