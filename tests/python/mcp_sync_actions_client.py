"""keboola-mcp-server's Sync Actions client (clients/sync_actions.py, from PyPI) against kbstack's
sync-actions URL: run actions of keboola.runner-config-test (the client sends branchId "default"),
and read a component failure as the client reports it. Run by tests/sync_actions.rs."""
import asyncio
import os

import httpx

from keboola_mcp_server.clients.sync_actions import SyncActionsClient


async def main() -> None:
    url = os.environ["KBSTACK_URL"]
    client = SyncActionsClient.create(root_url=f"{url}/sync-actions", token=os.environ["KBSTACK_TOKEN"])
    empty = await client.execute_action("keboola.runner-config-test", "emptyJsonObject", {})
    assert empty == {}, empty
    config = await client.execute_action(
        "keboola.runner-config-test", "dumpConfig", {"parameters": {"host": "db.example"}, "storage": {}}
    )
    assert config["action"] == "dumpConfig" and config["parameters"] == {"host": "db.example"}, config
    env = await client.execute_action("keboola.runner-config-test", "dumpEnv", {})
    assert env["KBC_BRANCHID"].isdigit(), env
    try:
        await client.execute_action("keboola.runner-config-test", "userError", {})
        raise AssertionError("a user error must raise")
    except httpx.HTTPStatusError as e:
        text = str(e)
        assert "400" in text and "User error" in text and "User Error" in text and "docker-" in text, text
    print("mcp sync actions client ok")


asyncio.run(main())
