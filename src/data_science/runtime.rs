//! Running data apps: each deployed app is a Streamlit child process of kbstack, started with the
//! configured Python (`[data_apps] python`) in `<data-dir>/data-apps/<id>/`, listening on a free
//! loopback port under the base path `/hub/<id>` so the proxy forwards paths unchanged. It runs
//! in the runner's sandbox (no access to the data dir beyond its own folder), with the app's
//! secrets and `KBC_URL`/`KBC_TOKEN`/`BRANCH_ID` in its environment, and dies with kbstack
//! (`PR_SET_PDEATHSIG`). Its output goes to `app.log`, one timestamped line each (what
//! `logs/tail` reads). A run record follows each start: `starting`, then `running` once
//! Streamlit's health check answers, or `failed` with the reason; `finished` when stopped.
//!
//! After a restart of kbstack no app process exists any more: `recover` marks those apps
//! stopped-for-inactivity, so the first request to one starts it again.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{COMPONENT, DEFAULT_AUTO_SUSPEND_SECS, states};
use crate::app::AppState;
use crate::http::now_iso;
use crate::meta::data_apps::{AppRun, DataApp};

/// How long an app may take to answer its health check after its start.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a stopped app gets to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often idle apps are looked for.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The app processes of this kbstack.
#[derive(Default)]
pub struct AppsRuntime {
    running: Mutex<HashMap<i64, Running>>,
    /// Apps being started, with a signal for requests waiting on them.
    starting: Mutex<HashMap<i64, Arc<tokio::sync::Notify>>>,
}

struct Running {
    child: tokio::process::Child,
    port: u16,
    run_id: i64,
    /// Seconds of inactivity before the app is stopped (0: never).
    auto_suspend: u64,
    last_request: Instant,
    /// `Some`: the password HTTP basic authentication must give.
    password: Option<String>,
}

/// Where a running app answers and who may reach it.
#[derive(Clone)]
pub struct Target {
    pub port: u16,
    pub password: Option<String>,
}

impl AppsRuntime {
    pub fn is_running(&self, id: i64) -> bool {
        self.running.lock().contains_key(&id)
    }

    /// The running app's address, noting the request (it keeps the app from idling out).
    pub fn touch(&self, id: i64) -> Option<Target> {
        let mut running = self.running.lock();
        let r = running.get_mut(&id)?;
        r.last_request = Instant::now();
        Some(Target { port: r.port, password: r.password.clone() })
    }

    /// When the running app last had a request.
    pub fn last_request(&self, id: i64) -> Option<String> {
        let running = self.running.lock();
        let elapsed = running.get(&id)?.last_request.elapsed();
        let at = chrono::Utc::now() - chrono::Duration::from_std(elapsed).ok()?;
        Some(at.format("%Y-%m-%dT%H:%M:%S%z").to_string())
    }

    fn starting_signal(&self, id: i64) -> Option<Arc<tokio::sync::Notify>> {
        self.starting.lock().get(&id).cloned()
    }
}

pub fn app_dir(state: &AppState, id: i64) -> PathBuf {
    state.config.data_dir.join("data-apps").join(id.to_string())
}

fn log_path(state: &AppState, id: i64) -> PathBuf {
    app_dir(state, id).join("app.log")
}

/// Remove a deleted app's folder.
pub fn remove_files(state: &AppState, id: i64) {
    let _ = std::fs::remove_dir_all(app_dir(state, id));
}

/// Start the app in the background (a new run); the app's record says `starting` already.
pub fn start(state: &AppState, app: &DataApp, mode: &str) {
    stop_now(state, app.id, "restarted");
    let run = AppRun {
        id: 0,
        app_id: app.id,
        state: states::STARTING.into(),
        mode: mode.into(),
        created_at: now_iso(),
        started_at: None,
        stopped_at: None,
        startup_logs: None,
        failure: None,
    };
    let run = match state.meta.insert_app_run(&run) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(app = app.id, error = %e.message, "cannot record the app's run");
            return;
        }
    };
    let signal = Arc::new(tokio::sync::Notify::new());
    state.data_apps.starting.lock().insert(app.id, signal.clone());
    let (state, app_id, project_id) = (state.clone(), app.id, app.project_id);
    tokio::spawn(async move {
        launch(&state, project_id, app_id, run).await;
        state.data_apps.starting.lock().remove(&app_id);
        signal.notify_waiters();
    });
}

/// Wait until a start under way has ended (`None` when none is).
pub async fn wait_started(state: &AppState, id: i64) {
    if let Some(signal) = state.data_apps.starting_signal(id) {
        let notified = signal.notified();
        if state.data_apps.starting_signal(id).is_some() {
            notified.await;
        }
    }
}

/// Stop the app's process if it runs: its run is finished, the process gets SIGTERM and is
/// killed after a grace period (in the background). The app's record is the caller's to set.
pub fn stop_now(state: &AppState, id: i64, why: &str) {
    let Some(r) = state.data_apps.running.lock().remove(&id) else { return };
    tracing::info!(app = id, why, "stopping data app");
    if let Ok(runs) = state.meta.app_runs(id, 0, 20) {
        if let Some(mut run) = runs.into_iter().find(|run| run.id == r.run_id) {
            run.state = "finished".into();
            run.stopped_at = Some(now_iso());
            let _ = state.meta.update_app_run(&run);
        }
    }
    terminate(r.child);
}

fn terminate(mut child: tokio::process::Child) {
    if let Some(pid) = child.id() {
        // SAFETY: signals the app's own process group (it was started as its leader).
        unsafe {
            libc::kill(-(pid as i32), libc::SIGTERM);
        }
    }
    tokio::spawn(async move {
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_err() {
            if let Some(pid) = child.id() {
                // SAFETY: as above.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
            let _ = child.kill().await;
        }
    });
}

/// What a start needs, read from the app's configuration at its deployed version.
struct Launch {
    dir: PathBuf,
    entry: String,
    env: Vec<(String, String)>,
    auto_suspend: u64,
    password: Option<String>,
}

async fn launch(state: &AppState, project_id: i64, app_id: i64, mut run: AppRun) {
    let st = state.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare(&st, project_id, app_id)).await;
    let outcome = match prepared {
        Ok(Ok(launch)) => spawn_and_probe(state, app_id, run.id, launch).await,
        Ok(Err(e)) => Err(("ConfigInvalid", e)),
        Err(e) => Err(("InternalError", format!("preparing the app crashed: {e}"))),
    };
    let st = state.clone();
    let _ = tokio::task::spawn_blocking(move || {
        let Ok(Some(mut app)) = st.meta.data_app(project_id, app_id) else { return };
        match outcome {
            Ok(()) => {
                run.state = states::RUNNING.into();
                run.started_at = Some(now_iso());
                app.state = states::RUNNING.into();
                app.last_start = run.started_at.clone();
                app.last_request = run.started_at.clone();
            }
            Err((reason, message)) => {
                tracing::warn!(app = app_id, reason, "data app did not start");
                run.state = "failed".into();
                run.stopped_at = Some(now_iso());
                run.startup_logs = Some(tail_lines(&log_path(&st, app_id), 40));
                run.failure = Some((reason.to_string(), message));
                // Keboola reverts a failed deploy to stopped.
                app.state = states::STOPPED.into();
                app.desired_state = states::STOPPED.into();
            }
        }
        let _ = st.meta.update_app_run(&run);
        let _ = st.meta.update_data_app(&app);
    })
    .await;
}

/// Write the app's code and settings into its folder and gather its environment.
fn prepare(state: &AppState, project_id: i64, app_id: i64) -> Result<Launch, String> {
    let app = state.meta.data_app(project_id, app_id).map_err(|e| e.message)?.ok_or("the app was deleted")?;
    let default_branch = state.meta.default_branch(project_id).map_err(|e| e.message)?.ok_or("the project was deleted")?;
    let branch = app.branch_id.unwrap_or(default_branch);
    let snapshot = crate::storage::configurations::version_in_branch(state, project_id, branch, COMPONENT, &app.config_id, &app.config_version)
        .map_err(|e| format!("configuration {} version {}: {}", app.config_id, app.config_version, e.message))?;
    let scope = crate::encryption::Scope {
        component: Some(COMPONENT.into()),
        project: Some(project_id.to_string()),
        config: Some(app.config_id.clone()),
        branch_type: Some(if app.branch_id.is_none() { "default" } else { "dev" }.into()),
    };
    let config = crate::encryption::decrypt_for_job(state, &scope, &snapshot["configuration"])?.value;
    let params = &config["parameters"];
    let dir = app_dir(state, app_id);
    let code = dir.join("code");
    let _ = std::fs::remove_dir_all(&code);
    std::fs::create_dir_all(dir.join("home")).map_err(|e| format!("cannot create the app's folder: {e}"))?;
    let git = &params["dataApp"]["git"];
    if let Some(repository) = git["repository"].as_str() {
        clone(repository, git["branch"].as_str(), git["username"].as_str(), git["#password"].as_str(), &code)?;
    } else {
        std::fs::create_dir_all(&code).map_err(|e| format!("cannot create the app's code folder: {e}"))?;
        let script = match &params["script"] {
            Value::Array(parts) => parts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"),
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        if script.trim().is_empty() {
            return Err("the configuration has neither parameters.script nor parameters.dataApp.git.repository".into());
        }
        std::fs::write(code.join("streamlit_app.py"), script).map_err(|e| format!("cannot write the app's code: {e}"))?;
    }
    if let Some(files) = params["dataApp"]["streamlit"].as_object() {
        let dot = code.join(".streamlit");
        std::fs::create_dir_all(&dot).map_err(|e| format!("cannot write .streamlit: {e}"))?;
        for (name, content) in files {
            let safe = Path::new(name).file_name().filter(|n| n.to_string_lossy() == *name);
            let (Some(file), Some(content)) = (safe, content.as_str()) else { continue };
            std::fs::write(dot.join(file), content).map_err(|e| format!("cannot write .streamlit/{name}: {e}"))?;
        }
    }
    let entry = ["streamlit_app.py", "app.py", "main.py"]
        .into_iter()
        .find(|f| code.join(f).is_file())
        .ok_or("the code has no streamlit_app.py, app.py or main.py")?
        .to_string();
    let token = state.secrets.open(&app.sealed_token).ok_or("the app's token cannot be opened")?;
    let mut env = vec![
        ("KBC_URL".to_string(), state.urls.root()),
        ("KBC_TOKEN".to_string(), token),
        ("BRANCH_ID".to_string(), branch.to_string()),
        ("KBC_PROJECTID".to_string(), project_id.to_string()),
    ];
    if let Some(secrets) = params["dataApp"]["secrets"].as_object() {
        for (k, v) in secrets {
            let name = k.trim_start_matches('#');
            if let Some(v) = crate::http::params::scalar_to_string(v) {
                env.push((name.to_string(), v));
            }
        }
    }
    let auto_suspend = params["autoSuspendAfterSeconds"].as_u64().unwrap_or(DEFAULT_AUTO_SUSPEND_SECS);
    let password = if requires_password(&config["authorization"]) { Some(super::password(state, &app).map_err(|e| e.0.message)?) } else { None };
    Ok(Launch { dir, entry, env, auto_suspend, password })
}

/// Whether the app's `authorization.app_proxy` asks for a password: any rule that requires
/// authentication (kbstack has only the password provider, so it stands for the others too).
pub fn requires_password(authorization: &Value) -> bool {
    match authorization["app_proxy"]["auth_rules"].as_array() {
        Some(rules) => rules.iter().any(|r| r["auth_required"] == true),
        // No authorization block: protected, as Keboola's default for new apps.
        None => true,
    }
}

/// `git clone --depth 1` of the app's repository (a URL or a local path), credentials passed
/// as an HTTP header so they are not written into the clone's config. A server that cannot
/// serve shallow clones (git's "dumb" HTTP) gets a full clone.
fn clone(repository: &str, branch: Option<&str>, username: Option<&str>, password: Option<&str>, into: &Path) -> Result<(), String> {
    match git_clone(repository, branch, username, password, into, true) {
        Err(e) if e.contains("shallow") => {
            let _ = std::fs::remove_dir_all(into);
            git_clone(repository, branch, username, password, into, false)
        }
        other => other,
    }
}

fn git_clone(repository: &str, branch: Option<&str>, username: Option<&str>, password: Option<&str>, into: &Path, shallow: bool) -> Result<(), String> {
    use base64::Engine;
    let mut cmd = std::process::Command::new("git");
    if let (Some(user), Some(pass)) = (username, password) {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        cmd.arg("-c").arg(format!("http.extraHeader=Authorization: Basic {basic}"));
    }
    cmd.args(["clone", "--quiet"]);
    if shallow {
        cmd.args(["--depth", "1"]);
    }
    if let Some(b) = branch.filter(|b| !b.is_empty()) {
        cmd.args(["--branch", b]);
    }
    cmd.arg(repository).arg(into).env("GIT_TERMINAL_PROMPT", "0").stdin(Stdio::null());
    let out = cmd.output().map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!("git clone of {repository} failed: {}", err.trim()))
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

async fn spawn_and_probe(state: &AppState, app_id: i64, run_id: i64, launch: Launch) -> Result<(), (&'static str, String)> {
    let port = free_port().map_err(|e| ("InternalError", e))?;
    let base = format!("{}/{app_id}", super::proxy::MOUNT);
    let code = launch.dir.join("code");
    let mut cmd = crate::runner::process::clean_command(&state.config.data_apps_python, &launch.dir.join("home"));
    cmd.args(["-m", "streamlit", "run", &launch.entry])
        .args(["--server.port", &port.to_string(), "--server.address", "127.0.0.1", "--server.headless", "true"])
        .args(["--server.baseUrlPath", &base, "--browser.gatherUsageStats", "false"])
        // The proxy is the app's origin for browsers; Streamlit's own checks would see another host.
        .args(["--server.enableCORS", "false", "--server.enableXsrfProtection", "false"])
        .current_dir(&code)
        .env("PYTHONUNBUFFERED", "1")
        .envs(launch.env.iter().map(|(k, v)| (k, v)));
    let ruleset = crate::runner::process::confine(&mut cmd, &state.config.data_dir, &launch.dir, None).await.map_err(|e| ("InternalError", e))?;
    let spawned = cmd.spawn();
    drop(ruleset);
    let mut child = spawned.map_err(|e| ("StartFailed", format!("cannot start {}: {e}", state.config.data_apps_python)))?;
    copy_output(&mut child, log_path(state, app_id));
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let health = format!("/{base}/_stcore/health");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(("StartupProbeFailed", format!("the app exited during its start ({status})")));
        }
        if super::proxy::get_ok(port, &health).await {
            break;
        }
        if Instant::now() > deadline {
            terminate(child);
            return Err(("StartupProbeFailed", format!("the app did not answer within {} s", STARTUP_TIMEOUT.as_secs())));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let running = Running { child, port, run_id, auto_suspend: launch.auto_suspend, last_request: Instant::now(), password: launch.password };
    if let Some(previous) = state.data_apps.running.lock().insert(app_id, running) {
        terminate(previous.child);
    }
    Ok(())
}

/// The child's output into the app's log, a timestamp before each line.
fn copy_output(child: &mut tokio::process::Child, path: PathBuf) {
    let streams: Vec<Box<dyn tokio::io::AsyncRead + Unpin + Send>> = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for stream in streams {
        let path = path.clone();
        tokio::spawn(async move {
            let Ok(mut file) = tokio::fs::OpenOptions::new().create(true).append(true).open(&path).await else { return };
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let stamped = format!("{} {}\n", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ"), line.trim_end());
                if file.write_all(stamped.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// The last `n` lines of the app's log, or those since `since` (RFC 3339).
pub fn log_tail(state: &AppState, id: i64, lines: Option<usize>, since: Option<chrono::DateTime<chrono::Utc>>) -> String {
    let path = log_path(state, id);
    match since {
        Some(since) => {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            text.lines()
                .filter(|l| {
                    l.split_once(' ')
                        .and_then(|(ts, _)| chrono::DateTime::parse_from_rfc3339(ts).ok())
                        .is_some_and(|ts| ts.with_timezone(&chrono::Utc) >= since)
                })
                .map(|l| format!("{l}\n"))
                .collect()
        }
        None => tail_lines(&path, lines.unwrap_or(100)),
    }
}

fn tail_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(n)..].iter().map(|l| format!("{l}\n")).collect()
}

/// At start: no app process survived the previous kbstack, so apps that ran are stopped for
/// inactivity (the next request starts them) and their open runs are finished.
pub fn recover(state: &AppState) -> anyhow::Result<()> {
    let now = now_iso();
    for mut run in state.meta.open_app_runs().map_err(|e| anyhow::anyhow!(e.message))? {
        run.state = if run.state == states::STARTING { "failed".into() } else { "finished".into() };
        if run.state == "failed" {
            run.failure = Some(("Interrupted".into(), "kbstack stopped while the app was starting".into()));
        }
        run.stopped_at = Some(now.clone());
        state.meta.update_app_run(&run).map_err(|e| anyhow::anyhow!(e.message))?;
    }
    for mut app in state.meta.data_apps_in_states(&[states::STARTING, states::RUNNING, states::STOPPING]).map_err(|e| anyhow::anyhow!(e.message))? {
        app.auto_suspended = app.desired_state == states::RUNNING;
        app.state = states::STOPPED.into();
        app.desired_state = states::STOPPED.into();
        state.meta.update_data_app(&app).map_err(|e| anyhow::anyhow!(e.message))?;
    }
    Ok(())
}

/// The idle watch: a running app without requests for its `autoSuspendAfterSeconds` is
/// stopped and marked so that the next request starts it again.
pub fn start_idle_watch(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(IDLE_CHECK);
        loop {
            tick.tick().await;
            let idle: Vec<i64> = state
                .data_apps
                .running
                .lock()
                .iter()
                .filter(|(_, r)| r.auto_suspend > 0 && r.last_request.elapsed() >= Duration::from_secs(r.auto_suspend))
                .map(|(id, _)| *id)
                .collect();
            for id in idle {
                let st = state.clone();
                let _ = tokio::task::spawn_blocking(move || suspend_idle(&st, id)).await;
            }
        }
    });
}

fn suspend_idle(state: &AppState, id: i64) {
    let Ok(Some(mut app)) = state.meta.data_app_any(id) else { return };
    stop_now(state, id, "idle");
    app.state = states::STOPPED.into();
    app.desired_state = states::STOPPED.into();
    app.auto_suspended = true;
    let _ = state.meta.update_data_app(&app);
}

/// Start an app that was stopped for inactivity, for a request to it; waits until it runs.
pub async fn wake(state: &AppState, id: i64) -> Option<Target> {
    if let Some(t) = state.data_apps.touch(id) {
        return Some(t);
    }
    if state.data_apps.starting_signal(id).is_none() {
        let st = state.clone();
        let woke = tokio::task::spawn_blocking(move || {
            let mut app = st.meta.data_app_any(id).ok()??;
            // Running or starting by the record, yet no process here: the node that ran it died
            // (with a shared store its start does not touch other nodes' apps). Start it again.
            let orphaned = matches!(app.state.as_str(), states::RUNNING | states::STARTING) && app.desired_state == states::RUNNING;
            if !app.auto_suspended && !orphaned {
                return None;
            }
            app.auto_suspended = false;
            app.state = states::STARTING.into();
            app.desired_state = states::RUNNING.into();
            st.meta.update_data_app(&app).ok()?;
            start(&st, &app, "prod");
            Some(())
        })
        .await
        .ok()
        .flatten();
        if woke.is_none() && state.data_apps.starting_signal(id).is_none() {
            return None;
        }
    }
    wait_started(state, id).await;
    state.data_apps.touch(id)
}
