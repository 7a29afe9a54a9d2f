"""Round-trips files through kbstack with the official clients: kbcstorage's Files (which uploads and
downloads with the real Azure SDK, azure-storage-blob) against `KBSTACK_URL` with `KBSTACK_TOKEN`.

Covers a small file, a 0-byte file (the SDK's ranged GET gets 416 and retries without a range),
a file over the SDK's 64 MiB single-put limit (uploaded as Put Block + Put Block List, downloaded
in ranged chunks) and a sliced file read through its manifest.

Run: KBSTACK_URL=http://127.0.0.1:PORT KBSTACK_TOKEN=... python tests/python/test_blob_roundtrip.py
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile

from azure.storage.blob import BlobServiceClient
from azure.storage.blob._generated.operations import BlockBlobOperations
from kbcstorage.files import Files

URL = os.environ["KBSTACK_URL"]
TOKEN = os.environ["KBSTACK_TOKEN"]
files = Files(URL, TOKEN)

# Count the Azure SDK's block operations, to prove the large upload really went through blocks.
calls = {"stage_block": 0, "commit_block_list": 0, "upload": 0}
for op in list(calls):
    original = getattr(BlockBlobOperations, op)

    def counted(self, *args, _op=op, _original=original, **kwargs):
        calls[_op] += 1
        return _original(self, *args, **kwargs)

    setattr(BlockBlobOperations, op, counted)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def roundtrip(content_writer, name, tags):
    work = tempfile.mkdtemp()
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        content_writer(f)
    file_id = files.upload_file(path, tags=tags)
    info = files.detail(file_id)
    assert info["sizeBytes"] == os.path.getsize(path), (info["sizeBytes"], os.path.getsize(path))
    assert "credentials" not in info
    assert set(tags) <= set(info["tags"]), info["tags"]
    out = files.download(file_id, os.path.join(work, "out"))
    assert sha256(out) == sha256(path), "downloaded content differs for " + name
    shutil.rmtree(work)  # the large case writes 140 MB
    return file_id


def test_small():
    roundtrip(lambda f: f.write(b"fooBar"), "small.csv", ["py-roundtrip", "small"])
    assert calls["upload"] >= 1


def test_empty():
    roundtrip(lambda f: None, "empty.csv", ["py-roundtrip"])


def test_large_uses_blocks():
    before = dict(calls)

    def write(f):
        block = hashlib.sha256(b"kbstack").digest() * (1 << 15)  # 1 MiB, not all one byte
        for i in range(70):
            f.write(bytes([i]) + block[1:])

    roundtrip(write, "large.bin", ["py-roundtrip", "large"])
    staged = calls["stage_block"] - before["stage_block"]
    assert staged >= 17, "expected the >64 MiB upload to go in 4 MiB blocks, saw %d" % staged
    assert calls["commit_block_list"] - before["commit_block_list"] == 1


def test_sliced_download():
    prepared = files.prepare_upload("sliced.csv", is_sliced=True, tags=["py-roundtrip"])
    params = prepared["absUploadParams"]
    service = BlobServiceClient.from_connection_string(params["absCredentials"]["SASConnectionString"])
    container = service.get_container_client(params["container"])
    entries = []
    for i, data in enumerate([b'"a","b"\n', b'"c","d"\n']):
        blob = "%spart%d" % (params["blobName"], i)
        container.upload_blob(blob, data)
        entries.append({"url": "azure://%s.blob.core.windows.net/%s/%s" % (params["accountName"], params["container"], blob)})
    container.upload_blob(params["blobName"] + "manifest", json.dumps({"entries": entries}).encode())
    work = tempfile.mkdtemp()
    os.chdir(work)  # kbcstorage writes slices into the working directory before merging them
    out = files.download(prepared["id"], os.path.join(work, "out"))
    with open(out, "rb") as f:
        assert f.read() == b'"a","b"\n"c","d"\n'
    assert files.detail(prepared["id"])["sizeBytes"] == 16
    os.chdir("/")
    shutil.rmtree(work)


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            fn()
            print("ok", name)
    for f in files.list(tags=["py-roundtrip"]):
        files.delete(f["id"])
    print("calls", calls)
    sys.exit(0)
