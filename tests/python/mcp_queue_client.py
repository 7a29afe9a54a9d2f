"""keboola-mcp-server's Queue client (clients/jobs_queue.py, from PyPI) against kbstack's queue URL:
create a job of a stored configuration, poll it, search for it. Run by tests/queue_mcp.rs."""
import asyncio
import os

from keboola_mcp_server.clients.jobs_queue import JobsQueueClient


async def main() -> None:
    url = os.environ["KBSTACK_URL"]
    client = JobsQueueClient.create(root_url=f"{url}/queue", token=os.environ["KBSTACK_TOKEN"])
    job = await client.create_job(component_id="keboola.runner-config-test", configuration_id="mcp")
    job_id = job["id"]
    assert isinstance(job_id, str) and job["status"] in ("created", "waiting", "processing"), job
    detail = job
    for _ in range(600):
        detail = await client.get_job_detail(job_id)
        if detail["isFinished"]:
            break
        await asyncio.sleep(0.05)
    assert detail["status"] == "success", detail
    assert detail["config"] == "mcp" and detail["component"] == "keboola.runner-config-test", detail
    found = await client.search_jobs_by(
        component_id="keboola.runner-config-test", config_id="mcp", status=["success"], limit=10
    )
    assert [j["id"] for j in found] == [job_id], found
    none = await client.search_jobs_by(config_id="mcp", status=["error"])
    assert none == [], none
    print("mcp queue client ok", job_id)


asyncio.run(main())
