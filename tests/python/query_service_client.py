"""keboola-query-service 0.3.0 (from PyPI) against kbstack's Query service: execute_query with
auto-pagination, the low-level calls, history, a failed job, cancel, streaming, its error
classes, and the async client. Run by tests/query_service_python.rs."""
import asyncio
import os
import time

from keboola_query_service import Client
from keboola_query_service.exceptions import AuthenticationError, JobError, NotFoundError, ValidationError
from keboola_query_service.models import JobState, StatementState

URL = os.environ["KBSTACK_URL"] + "/query"
TOKEN = os.environ["KBSTACK_TOKEN"]
BRANCH = os.environ["KBSTACK_BRANCH"]
WS = os.environ["KBSTACK_WORKSPACE"]
LONG = "SELECT count(*) FROM range(10000000000) a, range(100) b WHERE a.range * b.range = -1"

with Client(base_url=URL, token=TOKEN) as client:
    results = client.execute_query(
        BRANCH,
        WS,
        [
            "CREATE TABLE people AS SELECT range AS id, 'p' || range AS name FROM range(250)",
            "INSERT INTO people VALUES (1000, NULL)",
            "SELECT id, name FROM people ORDER BY id",
        ],
        page_size=100,
    )
    assert len(results) == 3, results
    assert all(r.status == StatementState.COMPLETED for r in results), results
    assert results[1].rows_affected == 1, results[1]
    select = results[2]
    assert [c.name for c in select.columns] == ["id", "name"], select.columns
    assert [c.type for c in select.columns] == ["fixed", "text"], select.columns
    assert select.number_of_rows == 251 and len(select.data) == 251, (select.number_of_rows, len(select.data))
    assert select.data[0] == ["0", "p0"] and select.data[-1] == ["1000", None], (select.data[0], select.data[-1])

    pages = list(client.execute_query_iter(BRANCH, WS, ["SELECT id FROM people ORDER BY id"], page_size=100))
    assert [len(p.data) for p in pages] == [100, 100, 51], [len(p.data) for p in pages]
    capped = client.execute_query(BRANCH, WS, ["SELECT id FROM people ORDER BY id"], max_rows=10)
    assert len(capped[0].data) == 10, capped

    job_id = client.submit_job(BRANCH, WS, ["SELECT count(*) AS n FROM people"], transactional=False)
    status = client.wait_for_job(job_id)
    assert status.status == JobState.COMPLETED and status.query_job_id == job_id, status
    statement = status.statements[0]
    assert statement.executed_at and statement.completed_at and statement.created_at, statement
    page = client.get_job_results(job_id, statement.id, offset=0, page_size=10)
    assert page.data == [["251"]], page
    streamed = list(client.stream_results(job_id, statement.id))
    assert streamed == [["251"]], streamed

    history = client.get_query_history(BRANCH, WS, page_size=3)
    assert [s.query for s in history.statements][0] == "SELECT count(*) AS n FROM people", history
    assert history.statements[0].query_job_id == job_id, history.statements[0]
    older = client.get_query_history(BRANCH, WS, after_id=history.statements[-1].id)
    assert older.statements and all(s.id != history.statements[-1].id for s in older.statements), older

    try:
        client.execute_query(BRANCH, WS, ["SELECT * FROM nowhere", "SELECT 1"])
        raise AssertionError("a failed statement fails the job")
    except JobError as e:
        assert "nowhere" in str(e) and e.failed_statements, e
    failed = client.get_job_status(client.submit_job(BRANCH, WS, ["SELECT * FROM nowhere", "SELECT 1"]))
    while not failed.status.is_terminal():
        time.sleep(0.05)
        failed = client.get_job_status(failed.query_job_id)
    assert [s.status for s in failed.statements] == [StatementState.FAILED, StatementState.NOT_EXECUTED], failed

    long_job = client.submit_job(BRANCH, WS, [LONG])
    while client.get_job_status(long_job).statements[0].status != StatementState.PROCESSING:
        time.sleep(0.02)
    assert client.cancel_job(long_job, "test") == long_job
    canceled = client.wait_for_job(long_job, max_wait_time=10)
    assert canceled.status == JobState.CANCELED and canceled.cancellation_reason == "test", canceled

    for call, error in [
        (lambda: client.submit_job(BRANCH, "999999", ["SELECT 1"]), NotFoundError),
        (lambda: client.get_job_status("no-such-job"), NotFoundError),
        (lambda: client.submit_job(BRANCH, WS, []), ValidationError),
    ]:
        try:
            call()
            raise AssertionError(f"expected {error.__name__}")
        except error as e:
            assert e.exception_id and e.exception_id.startswith("query-"), e

with Client(base_url=URL, token="1-1-wrong") as bad:
    try:
        bad.get_job_status("x")
        raise AssertionError("a wrong token is refused")
    except AuthenticationError:
        pass


async def run_async() -> None:
    async with Client(base_url=URL, token=TOKEN) as client:
        results = await client.execute_query_async(BRANCH, WS, ["SELECT 40 + 2 AS answer"])
        assert results[0].data == [["42"]], results


asyncio.run(run_async())
print("query service client ok")
