"""Official clients reach kbstack by host name over TLS, as against a real stack: kbcstorage's Files
(requests + the Azure SDK) on `https://connection.<suffix>:<port>`, keboola-mcp-server's Queue
client on `https://queue.<suffix>:<port>`. Names resolve to 127.0.0.1 through a patched
getaddrinfo (no /etc/hosts change; SNI and certificate checks still use the names) and only the
generated CA is trusted (REQUESTS_CA_BUNDLE, SSL_CERT_FILE). Run by tests/host_routing.rs."""
import asyncio
import hashlib
import os
import socket
import tempfile

SUFFIX = os.environ["KBSTACK_SUFFIX"]
PORT = os.environ["KBSTACK_TLS_PORT"]
TOKEN = os.environ["KBSTACK_TOKEN"]

_getaddrinfo = socket.getaddrinfo


def local_getaddrinfo(host, *args, **kwargs):
    # anyio (under httpx) passes the name IDNA-encoded, as bytes.
    name = host.decode() if isinstance(host, bytes) else host
    if isinstance(name, str) and (name.endswith("." + SUFFIX) or name.endswith(".blob.core.windows.net")):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = local_getaddrinfo

from kbcstorage.files import Files  # noqa: E402
from keboola_mcp_server.clients.base import normalize_storage_api_url  # noqa: E402
from keboola_mcp_server.clients.jobs_queue import JobsQueueClient  # noqa: E402


def files_roundtrip() -> None:
    files = Files(f"https://connection.{SUFFIX}:{PORT}", TOKEN)
    work = tempfile.mkdtemp()
    path = os.path.join(work, "by-host.csv")
    with open(path, "wb") as f:
        f.write(b"id,name\n" + b"".join(b"%d,row %d\n" % (i, i) for i in range(10000)))
    file_id = files.upload_file(path, tags=["tls"])
    info = files.detail(file_id, federation_token=True)
    assert info["url"].startswith(f"https://abs.{SUFFIX}:{PORT}/kbstack/"), info["url"]
    out = files.download(file_id, os.path.join(work, "out"))
    digest = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()  # noqa: E731
    assert digest(out) == digest(path), "downloaded content differs"
    print("kbcstorage files by host ok", file_id)


async def queue_job() -> None:
    client = JobsQueueClient.create(root_url=f"https://queue.{SUFFIX}:{PORT}", token=TOKEN)
    job = await client.create_job(component_id="keboola.runner-config-test", configuration_id="tls")
    for _ in range(600):
        detail = await client.get_job_detail(job["id"])
        if detail["isFinished"]:
            break
        await asyncio.sleep(0.05)
    assert detail["status"] == "success", detail
    assert detail["url"] == f"https://queue.{SUFFIX}:{PORT}/jobs/{job['id']}", detail["url"]
    print("mcp queue client by host ok", job["id"])


# The MCP server accepts the suffix (its Keboola-domain check) and derives the hosts served here.
assert normalize_storage_api_url(f"https://connection.{SUFFIX}:{PORT}") == f"https://connection.{SUFFIX}"
files_roundtrip()
asyncio.run(queue_job())
