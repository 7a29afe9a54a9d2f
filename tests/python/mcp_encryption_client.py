"""keboola-mcp-server's Encryption client (clients/encryption.py, from PyPI) against kbstack's
encryption URL, without a token as the MCP server calls it: a dict and a string, for a
configuration. Run by tests/encryption.rs."""
import asyncio
import os

from keboola_mcp_server.clients.encryption import EncryptionClient, contains_plaintext_secrets


async def main() -> None:
    url = os.environ["KBSTACK_URL"]
    client = EncryptionClient.create(root_url=f"{url}/encryption")
    value = {"user": "u", "#password": "mcp-secret", "nested": {"#token": "t"}}
    out = await client.encrypt(value, project_id="1", component_id="keboola.runner-config-test", config_id="mcp")
    assert out["user"] == "u", out
    assert out["#password"].startswith("KBC::ConfigSecure::"), out
    assert not contains_plaintext_secrets(out), out
    again = await client.encrypt(out, project_id="1", component_id="keboola.runner-config-test", config_id="mcp")
    assert again == out, again
    text = await client.encrypt("plain", project_id="1")
    assert isinstance(text, str) and text.startswith("KBC::ProjectWideSecure::"), text
    print("CIPHER", out["#password"])
    print("mcp encryption client ok")


asyncio.run(main())
