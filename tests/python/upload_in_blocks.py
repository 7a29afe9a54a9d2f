"""Uploads a local file to a prepared kbstack file with the real Azure SDK, in small blocks
(Put Block + Put Block List), and prints how many blocks it staged.

Run: python upload_in_blocks.py CONNECTION_STRING CONTAINER BLOB PATH
"""
import sys

from azure.storage.blob import BlobClient
from azure.storage.blob._generated.operations import BlockBlobOperations

conn, container, blob, path = sys.argv[1:5]
staged = {"n": 0}
original = BlockBlobOperations.stage_block


def counted(self, *args, **kwargs):
    staged["n"] += 1
    return original(self, *args, **kwargs)


BlockBlobOperations.stage_block = counted
client = BlobClient.from_connection_string(
    conn, container, blob, max_single_put_size=64 * 1024, max_block_size=256 * 1024
)
with open(path, "rb") as f:
    client.upload_blob(f, overwrite=True, max_concurrency=3)
print("blocks", staged["n"])
