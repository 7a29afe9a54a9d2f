//! nginx as the load balancer in front of a scale-out stack's nodes: round robin over every node,
//! except the paths whose state lives on one node's disk or in its memory, which all go to the
//! first node. One nginx per stack (unlike PostgreSQL and S3, which a test process shares); it
//! is killed when its `Nginx` drops or the test process dies. Needs Debian's `nginx` (only the
//! binary: scripts/test installs the package without starting its service).
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::{die_with_parent, find_program, free_port, on_lasting_thread};

pub struct Nginx {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// nginx on a free loopback port balancing over `upstreams` (`host:port` or `http://host:port`),
/// the node-local paths pinned to `pinned` (the first node).
pub fn start(upstreams: &[String], pinned: &str) -> Nginx {
    let nginx = binary();
    let dir = crate::process::server_dir("nginx");
    for _ in 0..5 {
        let port = free_port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), port, upstreams, pinned)).expect("write nginx.conf");
        let (prefix, nginx) = (dir.path().to_path_buf(), nginx.clone());
        let mut child = on_lasting_thread(move || {
            let mut cmd = Command::new(nginx);
            // `-e`: the error log from the first moment (before the config is read), not /var/log.
            cmd.arg("-p").arg(&prefix).arg("-e").arg(prefix.join("error.log")).arg("-c").arg(&conf);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            die_with_parent(&mut cmd, None);
            cmd.spawn().expect("start nginx")
        });
        // The port may have been taken between choosing and binding it: then nginx exits.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Nginx { port, dir, child: Some(child) };
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    panic!("nginx did not start: {log}");
}

fn binary() -> PathBuf {
    find_program("nginx", &[PathBuf::from("/usr/sbin")])
        .expect("nginx is not installed: `apt-get install nginx` (scripts/test does; the scale-out test profile needs it)")
}

fn host_port(upstream: &str) -> &str {
    let rest = upstream.trim_start_matches("http://").trim_start_matches("https://");
    rest.trim_end_matches('/')
}

/// The config: one process in the foreground (`master_process off`: nothing forks, so the
/// parent-death signal reaches all of nginx), every path inside `dir`.
/// What both locations pass to the nodes.
const PROXY: &str = "            proxy_pass http://$kbstack_upstream;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            # Keepalive to the nodes, WebSocket upgrades (data apps) passed on.
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $kbstack_connection;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_redirect off;
            proxy_connect_timeout 5s;
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
            # nginx's default, stated: another node is tried only when a node cannot be reached
            # or times out, and never for a non-idempotent request (POST, PATCH): it may have run.
            proxy_next_upstream error timeout;
";

fn config(dir: &std::path::Path, port: u16, upstreams: &[String], pinned: &str) -> String {
    let d = dir.display();
    // A node that failed is passed over for 2 s (nginx's default is 10 s), so that a restarted
    // node is back in the rotation soon.
    let servers: String = upstreams.iter().map(|u| format!("        server {} max_fails=1 fail_timeout=2s;\n", host_port(u))).collect();
    let pinned = host_port(pinned);
    let proxy = PROXY;
    format!(
        r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    # Which node answered: `$upstream_addr` per request, for a failing test to be read.
    log_format upstream '$remote_addr "$request" $status $upstream_addr $request_time';
    access_log {d}/access.log upstream;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    upstream kbstack_nodes {{
{servers}        keepalive 64;
    }}
    upstream kbstack_pinned {{
        server {pinned};
        keepalive 16;
    }}

    # Paths whose state is node-local, pinned to the first node (path layout, and the service's
    # host in the host-name layout). Everything else is state in PostgreSQL, DuckLake and S3.
    #   query:        the Query service keeps a job's result files on the node's disk
    #                 (`<data-dir>/query-results`) and its cancel flags in memory;
    #   editor:       an SQL editor session is a workspace (below);
    #   workspaces:   a workspace is a DuckDB file on the node (`<data-dir>/workspaces`), also
    #                 under a configuration (`components/<c>/configs/<id>/workspaces`);
    #   data-science, sandboxes (its old id), hub: data apps are processes of one node
    #                 (`<data-dir>/data-apps`), `/hub/<id>` proxies to them; sandboxes are workspaces;
    #   stream, stream-in: the Stream service's writer and sources live in one node's memory and
    #                 `<data-dir>/stream`;
    #   templates:    the tasks of `use`/`upgrade`/`delete` are kept in the node's memory.
    map "$host $uri" $kbstack_upstream {{
        default kbstack_nodes;
        "~^(query|editor|data-science|sandboxes|stream|stream-in|templates)\." kbstack_pinned;
        "~^[^ ]* /(query|editor|data-science|sandboxes|hub|stream|stream-in|templates)(/|$)" kbstack_pinned;
        "~^[^ ]* /v2/storage/(branch/[^/]+/)?workspaces(/|$)" kbstack_pinned;
        "~^[^ ]* /v2/storage/(branch/[^/]+/)?components/[^/]+/configs/[^/]+/workspaces(/|$)" kbstack_pinned;
    }}
    map $http_upgrade $kbstack_connection {{
        default upgrade;
        "" "";
    }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        client_body_timeout 600s;
        send_timeout 600s;
        keepalive_timeout 600s;
        # SAS query strings and long tokens.
        large_client_header_buffers 8 64k;
        # API bodies are read whole before they go to a node, so a slow client holds no node
        # connection. (A node that refuses early reads the rest of a body before it answers, so
        # nginx never sees a reset mid-send.)
        location / {{
{proxy}            proxy_request_buffering on;
        }}
        # Blob uploads (Put Block of up to 4,000 MiB) and the Importer's uploads stream through
        # as they come: a node reads them as they arrive, and refuses an announced excess at once.
        location ~ ^/(abs|import)/ {{
{proxy}            proxy_request_buffering off;
        }}
    }}
}}
"#
    )
}

impl Nginx {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The access log so far: one line per request with the node that answered.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}
