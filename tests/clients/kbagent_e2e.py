"""keboola-cli (`kbagent`) commands against kbstack, run by tests/clients/kbagent.sh inside a
private network namespace. Each step runs the real CLI with `--json` and checks what it printed
(and, for downloads, the files it wrote). Every step runs; the failures are listed at the end."""
import csv
import json
import os
import subprocess
import sys
import traceback

KB = os.environ["KBAGENT_BIN"]
WORK = os.environ["E2E_WORK"]
P = "kbstack"  # added by step_project_add (a persisted project: branch commands need one)
BUCKET = "in.c-kbagent"


def kb(*args, ok=True):
    """Runs `kbagent --json <args>`; returns the parsed JSON output."""
    proc = subprocess.run([KB, "--json", *args], capture_output=True, text=True, timeout=300)
    if ok and proc.returncode != 0:
        raise AssertionError(f"kbagent {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        if ok:
            raise AssertionError(f"kbagent {' '.join(args)} printed no JSON:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return {"_exit": proc.returncode, "_out": proc.stdout, "_err": proc.stderr}


def data(out):
    """kbagent's JSON envelope: {"status": "ok", "data": ...}."""
    assert out.get("status") == "ok", out
    return out["data"]


def write_csv(name, rows):
    path = os.path.join(WORK, name)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def step_project_add():
    # The token comes from the environment (KBC_TOKEN), never from the command line.
    data(kb("project", "add", "--project", P, "--url", os.environ["KBC_STORAGE_API_URL"], "--token-env", "KBC_TOKEN"))
    listed = data(kb("project", "list"))
    assert P in json.dumps(listed), listed


def step_project_status():
    out = data(kb("project", "status"))
    text = json.dumps(out)
    assert "ok" in text.lower() or "connected" in text.lower(), out


def step_create_bucket():
    data(kb("storage", "create-bucket", "--project", P, "--stage", "in", "--name", "kbagent", "--description", "from kbagent"))
    buckets = data(kb("storage", "buckets", "--project", P))
    assert BUCKET in json.dumps(buckets), buckets


def step_create_typed_table():
    args = ["storage", "create-table", "--project", P, "--bucket-id", BUCKET, "--name", "typed",
            "--column", "id:INTEGER", "--column", "name:STRING", "--column", "amount:NUMERIC", "--primary-key", "id"]
    data(kb(*args))
    # A second create of the same name fails as Keboola's job does, which --if-not-exists turns into a no-op.
    again = kb(*args, ok=False)
    assert again.get("status") != "ok", again
    data(kb(*args, "--if-not-exists"))


def step_table_detail():
    detail = data(kb("storage", "table-detail", "--project", P, "--table-id", f"{BUCKET}.typed"))
    text = json.dumps(detail)
    for column in ("id", "name", "amount"):
        assert column in text, detail
    assert "INTEGER" in text.upper(), detail


def step_upload_and_download():
    rows = [["id", "name"]] + [[str(i), f"name {i}"] for i in range(1, 2001)]
    path = write_csv("upload.csv", rows)
    data(kb("storage", "upload-table", "--project", P, "--table-id", f"{BUCKET}.plain", "--file", path))
    detail = data(kb("storage", "table-detail", "--project", P, "--table-id", f"{BUCKET}.plain"))
    assert "2000" in json.dumps(detail), detail
    out = os.path.join(WORK, "download.csv")
    data(kb("storage", "download-table", "--project", P, "--table-id", f"{BUCKET}.plain", "--output", out))
    got = read_csv(out)
    assert got[0] == ["id", "name"], got[:2]
    assert sorted(got[1:], key=lambda r: int(r[0])) == rows[1:], (len(got), got[:3])


def step_download_sliced():
    out = os.path.join(WORK, "slices")
    data(kb("storage", "download-table", "--project", P, "--table-id", f"{BUCKET}.plain", "--output", out, "--keep-slices"))
    files = sorted(n for n in os.listdir(out) if n.endswith(".csv") and not n.startswith("_"))
    assert files, f"no slices written: {os.listdir(out)}"
    body = []
    for name in files:
        body += [r for r in read_csv(os.path.join(out, name)) if r and r != ["id", "name"]]
    assert len(body) == 2000, (files, len(body))


def step_unload_parquet():
    out = os.path.join(WORK, "parquet")
    res = data(kb("storage", "unload-table", "--project", P, "--table-id", f"{BUCKET}.plain", "--file-type", "parquet",
                  "--download", "--output", out))
    written = []
    for root, _, names in os.walk(out):
        written += [os.path.join(root, n) for n in names]
    assert written, res
    with open(written[0], "rb") as f:
        assert f.read(4) == b"PAR1", written[0]


def step_configuration_and_job():
    body = {"parameters": {"blocks": [{"name": "b", "codes": [{"name": "c", "script": ["print('hello from kbagent')"]}]}]},
            "storage": {}}
    created = data(kb("config", "new", "--project", P, "--component-id", "keboola.python-transformation-v2",
                      "--name", "kbagent-run", "--push", "--no-files", "--no-validate", "--configuration", json.dumps(body)))
    config_id = str(find_key(created, "id") or find_key(created, "config_id") or find_key(created, "configId"))
    detail = data(kb("config", "detail", "--project", P, "--component-id", "keboola.python-transformation-v2",
                     "--config-id", config_id))
    assert "hello from kbagent" in json.dumps(detail), detail
    job = data(kb("job", "run", "--project", P, "--component-id", "keboola.python-transformation-v2",
                  "--config-id", config_id, "--wait", "--timeout", "120", "--no-variables"))
    assert "success" in json.dumps(job), job
    job_id = str(find_key(job, "id") or find_key(job, "job_id"))
    detail = data(kb("job", "detail", "--project", P, "--job-id", job_id))
    assert '"success"' in json.dumps(detail), detail
    listed = data(kb("job", "list", "--project", P))
    assert job_id in json.dumps(listed), listed


def find_key(value, key):
    """The first value under `key` anywhere in kbagent's (nested) output."""
    if isinstance(value, dict):
        if key in value and not isinstance(value[key], (dict, list)):
            return value[key]
        for v in value.values():
            found = find_key(v, key)
            if found is not None:
                return found
    if isinstance(value, list):
        for v in value:
            found = find_key(v, key)
            if found is not None:
                return found
    return None


def step_encrypt():
    out = data(kb("encrypt", "values", "--project", P, "--component-id", "keboola.python-transformation-v2",
                  "--input", json.dumps({"#password": "secret"})))
    text = json.dumps(out)
    assert "KBC::ProjectSecure::" in text, out
    assert '"secret"' not in text, out


def step_schedule_list():
    schedule = {"schedule": {"cronTab": "*/15 * * * *", "timezone": "Europe/Prague", "state": "enabled"},
                "target": {"componentId": "keboola.python-transformation-v2", "configurationId": "1", "mode": "run"}}
    data(kb("config", "new", "--project", P, "--component-id", "keboola.scheduler", "--name", "every quarter",
            "--push", "--no-files", "--no-validate", "--configuration", json.dumps(schedule)))
    listed = data(kb("schedule", "list", "--project", P))
    text = json.dumps(listed)
    assert "*/15 * * * *" in text and "every quarter" in text, listed


def step_workspace_lifecycle():
    created = data(kb("workspace", "create", "--project", P, "--name", "kbagent-ws", "--read-only"))
    ws_id = str(find_key(created, "workspace_id") or find_key(created, "id"))
    assert ws_id.isdigit(), created
    listed = data(kb("workspace", "list", "--project", P))
    assert ws_id in json.dumps(listed), listed
    data(kb("workspace", "load", "--project", P, "--workspace-id", ws_id, "--tables", f"{BUCKET}.plain", "--load-type", "copy"))
    # The loaded table and Storage tables by their Keboola names (read-only Storage access).
    result = data(kb("workspace", "query", "--project", P, "--workspace-id", ws_id,
                     "--sql", 'SELECT COUNT(*) AS "n" FROM "plain"'))
    assert "2000" in json.dumps(result), result
    result = data(kb("workspace", "query", "--project", P, "--workspace-id", ws_id,
                     "--sql", f'SELECT "name" FROM "{BUCKET}"."plain" WHERE "id" = \'7\''))
    assert "name 7" in json.dumps(result), result
    full = data(kb("workspace", "query", "--project", P, "--workspace-id", ws_id, "--full",
                   "--sql", 'SELECT "id" FROM "plain" ORDER BY 1'))
    assert "1999" in json.dumps(full), str(full)[:500]
    detail = data(kb("workspace", "detail", "--project", P, "--workspace-id", ws_id))
    assert "snowflake" in json.dumps(detail).lower(), detail
    # kbagent asks for key-pair login on Snowflake stacks: such a workspace has no password to reset.
    refused = kb("workspace", "password", "--project", P, "--workspace-id", ws_id, ok=False)
    assert refused.get("status") == "error" and "keypair" in json.dumps(refused).lower(), refused
    data(kb("workspace", "delete", "--project", P, "--workspace-id", ws_id))
    listed = data(kb("workspace", "list", "--project", P))
    assert f'"{ws_id}"' not in json.dumps(listed) and f": {ws_id}," not in json.dumps(listed), listed


def step_branch_and_merge_request():
    branch = data(kb("branch", "create", "--project", P, "--name", "kbagent-feature", "--description", "from kbagent"))
    branch_id = str(find_key(branch, "branch_id") or find_key(branch, "id"))
    assert branch_id.isdigit(), branch
    created = data(kb("merge-request", "create", "--project", P, "--branch", branch_id, "--title", "kbagent change"))
    mr_id = str(find_key(created, "id") or find_key(created, "merge_request_id"))
    assert mr_id.isdigit(), created
    listed = data(kb("merge-request", "list", "--project", P))
    assert "kbagent change" in json.dumps(listed), listed
    detail = data(kb("merge-request", "detail", "--project", P, "--id", mr_id))
    assert "development" in json.dumps(detail), detail


def kbm(*args, ok=True):
    """A Manage API command: the manage token comes from KBC_MANAGE_API_TOKEN, which kbagent
    reads only with --allow-env-manage-token."""
    return kb("--allow-env-manage-token", *args, ok=ok)


def step_features():
    listed = data(kbm("feature", "list", "--project", P))
    assert "pay-as-you-go" in json.dumps(listed), listed
    data(kbm("feature", "project-add", "--project", P, "--feature", "queuev2", "--yes"))
    shown = data(kbm("feature", "project-show", "--project", P))
    assert "queuev2" in json.dumps(shown), shown
    data(kbm("feature", "project-remove", "--project", P, "--feature", "queuev2", "--yes"))
    assert "queuev2" not in json.dumps(data(kbm("feature", "project-show", "--project", P)))


def step_invite_and_members():
    data(kbm("project", "invite", "--project", P, "--email", "kbagent-guest@example.com", "--role", "guest"))
    pending = data(kbm("project", "member-list", "--project", P, "--include-pending"))
    assert "kbagent-guest@example.com" in json.dumps(pending), pending
    invitations = data(kbm("project", "invitation-list", "--project", P))
    assert "kbagent-guest@example.com" in json.dumps(invitations), invitations


def manage_api(method, path, body=None):
    """A Manage API call straight over HTTPS (for what kbagent has no command for)."""
    import urllib.request
    req = urllib.request.Request(os.environ["KBC_STORAGE_API_URL"] + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-KBC-ManageApiToken": os.environ["KBC_MANAGE_API_TOKEN"],
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read()
        return json.loads(text) if text else None


def step_org_setup():
    manage_api("POST", "/manage/organizations/1/projects", {"name": "kbagent second"})
    # Registers every project of organization 1 with a new Storage token made through /manage.
    out = data(kbm("org", "setup", "--org-id", "1", "--url", os.environ["KBC_STORAGE_API_URL"], "--yes"))
    text = json.dumps(out)
    assert "kbstack" in text, out
    listed = json.dumps(data(kb("project", "list")))
    assert "kbagent second" in listed, listed


def step_billing_credits():
    data(kbm("feature", "project-add", "--project", P, "--feature", "pay-as-you-go", "--yes"))
    manage_api("POST", "/manage/projects/1/credits", {"amount": 12.5, "description": "kbagent e2e"})
    try:
        out = data(kb("billing", "credits", "--project", P))
        assert "12.5" in json.dumps(out), out
    finally:
        data(kbm("feature", "project-remove", "--project", P, "--feature", "pay-as-you-go", "--yes"))


def step_notifications():
    created = data(kb("notification", "create", "--project", P, "--event", "job-failed", "--channel", "email",
                      "--address", "kbagent-alerts@example.com"))
    sub_id = str(find_key(created, "id") or find_key(created, "subscription_id"))
    listed = data(kb("notification", "list", "--project", P))
    assert "kbagent-alerts@example.com" in json.dumps(listed), listed
    detail = data(kb("notification", "detail", "--project", P, "--subscription-id", sub_id))
    assert "job-failed" in json.dumps(detail), detail
    data(kb("notification", "delete", "--project", P, "--subscription-id", sub_id, "--yes"))
    assert "kbagent-alerts@example.com" not in json.dumps(data(kb("notification", "list", "--project", P)))


def step_semantic_layer():
    """`kbagent semantic-layer` against the Metastore: a model with a dataset, metrics and a glossary
    term; show, schema, validate, export, search; edit (a new revision), scope, remove."""
    sl = ("semantic-layer",)
    model = data(kb(*sl, "model", "create", "--project", P, "--name", "kbagent_model", "--description", "from kbagent"))
    assert "kbagent_model" in json.dumps(model), model
    assert "kbagent_model" in json.dumps(data(kb(*sl, "model", "list", "--project", P)))
    m = ("--project", P, "--model", "kbagent_model")
    data(kb(*sl, "add", "dataset", *m, "--name", "orders", "--table-id", "in.c-kbagent.orders",
            "--fqn", '"KBSTACK"."in.c-kbagent"."orders"', "--primary-key", "id", "--description", "the orders"))
    data(kb(*sl, "add", "metric", *m, "--name", "revenue", "--sql", "SUM(orders.amount)", "--dataset", "in.c-kbagent.orders", "--yes"))
    data(kb(*sl, "add", "metric", *m, "--name", "order_count", "--sql", "COUNT(*)", "--dataset", "in.c-kbagent.orders", "--yes"))
    data(kb(*sl, "add", "glossary", *m, "--term", "ARR", "--definition", "Annual recurring revenue"))
    # A second metric of the same name is refused (the metastore's 409).
    again = kb(*sl, "add", "metric", *m, "--name", "revenue", "--sql", "SUM(1)", "--dataset", "in.c-kbagent.orders", "--yes", ok=False)
    assert again.get("status") != "ok", again
    shown = json.dumps(data(kb(*sl, "show", *m)))
    for name in ("orders", "revenue", "order_count", "ARR"):
        assert name in shown, shown
    metrics_only = json.dumps(data(kb(*sl, "show", *m, "--type", "metric")))
    assert "revenue" in metrics_only and "Annual recurring revenue" not in metrics_only, metrics_only
    schemas = json.dumps(data(kb(*sl, "schema", "--project", P, "--type", "glossary,metric")))
    assert "definition" in schemas and "1.0.0" in schemas, schemas
    data(kb(*sl, "validate", *m))
    out = os.path.join(WORK, "sl_export.json")
    data(kb(*sl, "export", *m, "--output", out))
    with open(out) as f:
        exported = f.read()
    assert "revenue" in exported and "orders" in exported, exported[:2000]
    found = json.dumps(data(kb(*sl, "search-context", "--project", P, "--pattern", "rev*")))
    assert "revenue" in found and "order_count" not in found, found
    data(kb(*sl, "edit", "metric", *m, "--name", "revenue", "--new-sql", "SUM(orders.amount) - SUM(orders.discount)", "--yes"))
    assert "orders.discount" in json.dumps(data(kb(*sl, "show", *m, "--type", "metric")))
    # The scope of an item, read by its id.
    metric = next(o for o in _dicts(data(kb(*sl, "show", *m, "--type", "metric"))) if o.get("name") == "revenue")
    metric_id = metric.get("id") or metric.get("uuid") or metric.get("context_id")
    scope = json.dumps(data(kb(*sl, "scope", "get", "--project", P, "--type", "metric", "--context-id", metric_id)))
    assert "project" in scope, scope
    # The elevation request: flagged, listed for the organization, withdrawn; then the step up.
    item = ("--project", P, "--type", "metric", "--context-id", metric_id)
    data(kb(*sl, "scope", "request-create", *item))
    pending = json.dumps(data(kb(*sl, "scope", "request-list", "--project", P, "--type", "metric")))
    assert metric_id in pending, pending
    data(kb(*sl, "scope", "request-delete", *item))
    assert metric_id not in json.dumps(data(kb(*sl, "scope", "request-list", "--project", P, "--type", "metric")))
    data(kb(*sl, "scope", "set", *item, "--scope", "organization", "--yes"))
    assert "organization" in json.dumps(data(kb(*sl, "scope", "get", *item)))
    # Replaying the export into the same model changes nothing (conflicts are skipped).
    replay = json.dumps(data(kb(*sl, "import", "--project", P, "--file", out, "--model", "kbagent_model", "--yes")))
    assert "skip" in replay.lower(), replay
    data(kb(*sl, "remove", "metric", *m, "--name", "order_count", "--yes"))
    assert "order_count" not in json.dumps(data(kb(*sl, "show", *m)))
    data(kb(*sl, "model", "delete", "--project", P, "--model", "kbagent_model", "--yes"))
    assert "kbagent_model" not in json.dumps(data(kb(*sl, "model", "list", "--project", P)))


def _dicts(v):
    """Every dict nested in `v` (kbagent's output shapes vary by command)."""
    if isinstance(v, dict):
        yield v
        for x in v.values():
            yield from _dicts(x)
    elif isinstance(v, list):
        for x in v:
            yield from _dicts(x)


def portal_api(method, path, token=None, body=None):
    """A Developer Portal call over HTTPS at developer.<suffix> (what kbagent only reads)."""
    import urllib.request
    base = os.environ["KBC_STORAGE_API_URL"].replace("connection.", "developer.", 1)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = token
    req = urllib.request.Request(base + path, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read()
        return json.loads(text) if text else None


def step_dev_portal():
    password = open(os.path.join(WORK, "data", "developer-admin-password")).read().strip()
    admin = portal_api("POST", "/auth/login", body={"email": "admin@kbstack.local", "password": password})["token"]
    portal_api("POST", "/admin/vendors", admin, {"id": "kbagente2e", "name": "kbagent e2e", "address": "Street 1", "email": "e2e@example.com"})
    portal_api("POST", "/vendors/kbagente2e/apps", admin, {"id": "ex-hello", "name": "Hello", "type": "extractor",
                                                           "shortDescription": "Says hello"})
    portal = os.environ["KBC_STORAGE_API_URL"].replace("connection.", "developer.", 1)
    proc = subprocess.run([KB, "--json", "dev-portal", "identity", "add", "--alias", "admin", "--username", "admin@kbstack.local",
                           "--password-stdin", "--role-hint", "admin", "--portal-url", portal],
                          input=password, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data(kb("dev-portal", "identity", "verify", "--identity", "admin"))
    listed = data(kb("dev-portal", "list", "--vendor", "kbagente2e", "--identity", "admin"))
    assert "kbagente2e.ex-hello" in json.dumps(listed), listed
    app = data(kb("dev-portal", "get", "--app", "kbagente2e.ex-hello", "--identity", "admin"))
    assert "Says hello" in json.dumps(app), app


def step_ai_service():
    """The AI service (ai.<suffix>): `docs query` answered by retrieval over kbstack's documentation,
    `component detail` from the registry (documentation_source ai_service), `component list --query`."""
    answer = data(kb("docs", "query", "How do I configure TLS host names?", "--project", P))
    assert "Host names and TLS" in answer["text"], answer
    assert any("/docs/sources/readme#" in u for u in answer["source_urls"]), answer
    detail = data(kb("component", "detail", "--component-id", "keboola.duckdb-transformation", "--project", P))
    assert detail["component_name"] == "DuckDB SQL", detail
    assert detail["documentation_source"] == "ai_service", detail
    assert detail["schema_summary"]["required_count"] == 1, detail
    found = data(kb("component", "list", "--query", "SQL transformation in DuckDB", "--project", P))
    assert found["components"][0]["component_id"] == "keboola.duckdb-transformation", found


def step_data_app():
    """The Data Science service (data-science.<suffix>): `data-app create` of a Streamlit app whose code is
    a local git repository, deployed and waited for, then list, detail, runs, logs, stop and delete."""
    repo = os.path.join(WORK, "app-repo")
    os.makedirs(repo, exist_ok=True)
    with open(os.path.join(repo, "streamlit_app.py"), "w") as f:
        f.write("import streamlit as st\nst.title('kbstack kbagent app')\n")
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("-c", "user.name=e2e", "-c", "user.email=e2e@example.com", "commit", "-q", "-m", "app")
    # kbagent takes only URLs: the repository is served over git's "dumb" HTTP protocol.
    git("update-server-info")
    import functools, http.server, threading
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=WORK)
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/app-repo/.git"
    made = data(kb("data-app", "create", "--project", P, "--name", "kbagent app", "--slug", "kbagent-app", "--type", "streamlit",
                   "--git-repo", url, "--git-public", "--auth", "public", "--wait", "--timeout", "150"))
    text = json.dumps(made)
    assert "running" in text, made
    app_id = str(made.get("app_id") or made.get("id") or made.get("data_app_id") or "")
    assert app_id, made
    listed = data(kb("data-app", "list", "--project", P))
    assert "kbagent app" in json.dumps(listed) or app_id in json.dumps(listed), listed
    detail = data(kb("data-app", "detail", "--project", P, "--app-id", app_id))
    assert "running" in json.dumps(detail), detail
    runs = data(kb("data-app", "runs", "--project", P, "--app-id", app_id))
    assert "running" in json.dumps(runs), runs
    logs = data(kb("data-app", "logs", "--project", P, "--app-id", app_id))
    assert "streamlit" in json.dumps(logs).lower(), logs
    data(kb("data-app", "stop", "--project", P, "--app-id", app_id))
    data(kb("data-app", "delete", "--project", P, "--app-id", app_id, "--yes"))
def step_stream():
    """`kbagent stream` against the Stream API (stream.<suffix>): an HTTP source created with its
    endpoint (which takes an event at stream-in.<suffix>), listed, shown, deleted; an OTLP source
    (kbagent's default type) gets its logs/metrics/traces sinks."""
    import ssl
    import urllib.request
    created = data(kb("stream", "create-source", "--project", P, "--name", "kbagent-events", "--type", "http", "--reveal"))
    sid = created["source_id"]
    endpoint = created["endpoint"]
    assert endpoint.startswith("https://stream-in.") and f"/stream/" in endpoint, created
    ctx = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE"))
    req = urllib.request.Request(endpoint, data=b'{"hello": "kbagent"}', method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        assert resp.status == 200 and resp.read() == b"OK"
    listed = data(kb("stream", "list", "--project", P))
    assert sid in json.dumps(listed), listed
    detail = data(kb("stream", "detail", sid, "--project", P))
    assert detail["type"] == "http" and detail["source_id"] == sid, detail
    otlp = data(kb("stream", "create-source", "--project", P, "--name", "kbagent-otlp"))
    assert set(otlp["destination"]["tables"]) == {"logs", "metrics", "traces"}, otlp
    assert otlp["base_endpoint"].startswith("https://stream-in."), otlp
    assert "***" in data(kb("stream", "detail", otlp["source_id"], "--project", P))["endpoint"]  # masked without --reveal
    for source in (sid, otlp["source_id"]):
        data(kb("stream", "delete", source, "--project", P, "--yes"))
    remaining = json.dumps(data(kb("stream", "list", "--project", P)))
    assert sid not in remaining and otlp["source_id"] not in remaining, remaining


def main():
    steps = [(name, fn) for name, fn in globals().items() if name.startswith("step_")]
    only = sys.argv[1:]
    failed = []
    for name, fn in steps:
        if only and name not in only:
            continue
        try:
            fn()
            print(f"ok    {name}", flush=True)
        except Exception:
            print(f"FAIL  {name}\n{traceback.format_exc()}", flush=True)
            failed.append(name)
    ran = [name for name, _ in steps if not only or name in only]
    print(f"kbagent e2e: {len(ran) - len(failed)} passed, {len(failed)} failed {failed or ''}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
