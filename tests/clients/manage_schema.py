"""The Management API's responses checked against Keboola's own OpenAPI document
(`reference/management/openapi.yaml`) with schemathesis, for the operations kbstack serves: the
served (method, path) pairs are read from kbstack's route table (`kbstack routes`) and matched
against the spec's paths.

Usage: manage_schema.py <kbstack binary> <openapi.yaml> [schemathesis args...]"""
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

BIN, SPEC = sys.argv[1], sys.argv[2]
TOKEN = "1-schemathesismanagetoken000000000000000000"


def shape(path):
    """A path with its parameters unnamed: /manage/projects/{}/users/{}."""
    return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0].rstrip("/"))


def served():
    out = subprocess.run([BIN, "routes"], capture_output=True, text=True, check=True).stdout
    pairs = set()
    for line in out.splitlines():
        method, _, path = line.partition(" ")
        if path.startswith("/manage"):
            pairs.add((method.upper(), shape(path)))
    return pairs


def main():
    spec = yaml.safe_load(open(SPEC))
    ours = served()
    names = []
    for path, ops in spec["paths"].items():
        for method in ops:
            if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE") and (method.upper(), shape(path)) in ours:
                names.append(f"{method.upper()} {path}")
    print(f"{len(names)} of the spec's operations are served: checking them", flush=True)
    with tempfile.TemporaryDirectory() as data:
        port = str(20000 + os.getpid() % 20000)
        env = dict(os.environ, KBSTACK_DATA_DIR=data, KBSTACK_MANAGE_TOKEN=TOKEN, KBSTACK_LISTEN=f"127.0.0.1:{port}")
        server = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "log"), "w"))
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(url + "/v2/storage", timeout=1)
                    break
                except Exception:
                    time.sleep(0.1)
            args = [os.path.join(os.path.dirname(sys.executable), "st"), "run", os.path.abspath(SPEC), "--url", url,
                    "-H", f"X-KBC-ManageApiToken: {TOKEN}",
                    "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
                    "--max-examples", "20", "--seed", "1"]
            for name in names:
                args += ["--include-name", name]
            sys.exit(subprocess.run(args + sys.argv[3:], cwd=data).returncode)
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
