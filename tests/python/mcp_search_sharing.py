"""keboola-mcp-server (from PyPI) uses kbstack's server-side search and bucket sharing: its
Storage client sees the `global-search` feature, parses `global-search` responses with its
GlobalSearchResponse model (current branch and whole project), lists `shared-buckets` of a
second project into its SharedBucketDetail model and links one. Run by tests/global_search.rs."""
import asyncio
import os

from keboola_mcp_server.clients.storage import AsyncStorageClient
from keboola_mcp_server.tools.storage.shared_buckets import SharedBucketDetail
from keboola_mcp_server.tools.storage.tools import BucketDetail


async def main() -> None:
    url = os.environ["KBSTACK_URL"]
    client = AsyncStorageClient.create(root_url=url, token=os.environ["KBSTACK_TOKEN"], branch_id="default")
    assert await client.is_enabled("global-search"), "global-search must be announced in owner.features"

    current = await client.global_search(query="orders", types=("bucket", "table", "flow", "configuration"), branch_scope="current")
    names = sorted((i.type, i.name) for i in current.items)
    assert names == [("bucket", "orders"), ("configuration", "Load orders"), ("flow", "Orders flow"), ("table", "big_orders")], names
    assert current.all == 4 and current.by_project == {"1": "kbstack"}, current
    table = next(i for i in current.items if i.type == "table")
    assert table.full_path["bucket"]["id"] == "in.c-customers" and table.branch_name == "Main", table
    assert table.project_name == "kbstack" and table.created.year >= 2024, table

    everywhere = await client.global_search(query="orders", types=("bucket",), branch_scope="all")
    assert sorted(i.name for i in everywhere.items) == ["dev_orders", "orders"], everywhere
    rows = await client.global_search(query="orders row", types=("configuration-row",))
    assert [(i.id, i.component_id, i.full_path["configuration"]["name"]) for i in rows.items][0][1:] == ("keboola.ex-db-mysql", "Load orders"), rows

    other = AsyncStorageClient.create(root_url=url, token=os.environ["KBSTACK_OTHER_TOKEN"], branch_id="default")
    shared = [SharedBucketDetail.model_validate(b) for b in await other.shared_bucket_list()]
    assert [(b.id, b.project_id, b.project_name, b.sharing) for b in shared] == [("in.c-orders", 1, "kbstack", "organization-project")], shared
    linked = await other.bucket_link(name="from_one", stage="in", source_project_id="1", source_bucket_id="in.c-orders")
    assert linked["id"] == "in.c-from_one" and linked["isLinkedBucket"] is True, linked
    assert linked["sourceBucket"]["project"]["id"] == 1, linked
    # Still listed once linked, and still parsed by the MCP server's model.
    again = [SharedBucketDetail.model_validate(b) for b in await other.shared_bucket_list()]
    assert [b.id for b in again] == ["in.c-orders"], again
    # The linked bucket and its (read-only) tables as the MCP server's bucket tools read them.
    detail = BucketDetail.model_validate(await other.bucket_detail("in.c-from_one"))
    assert detail.id == "in.c-from_one", detail
    listed = [BucketDetail.model_validate(b) for b in await other.bucket_list()]
    assert "in.c-from_one" in [b.id for b in listed], listed
    tables = await other.bucket_table_list("in.c-from_one")
    assert [t["id"] for t in tables] == ["in.c-from_one.lines"], tables
    table = await other.table_detail("in.c-from_one.lines")
    assert table["rowsCount"] == 2 and table["sourceTable"]["id"] == "in.c-orders.lines", table
    print("mcp search and sharing ok")


asyncio.run(main())
