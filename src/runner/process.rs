//! Running a component as a process: its own process group (so a kill reaches every child), a
//! clean environment plus the Common Interface variables, the Landlock sandbox of `sandbox` (no
//! access to the data dir, /proc or the server's secrets), every stdout/stderr line a Storage
//! event, a timeout, and termination within 2 s (SIGTERM, then SIGKILL after 1 s).
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::{Logger, Stream};
use super::registry::ProcessSpec;
use super::sandbox;

/// How a component run ended.
#[derive(Debug, Clone)]
pub enum Exit {
    Code(i32, Vec<String>),
    Cancelled,
    TimedOut(u64),
    Failed(String),
}

/// Host variables a process component keeps (the rest of kbstack's environment, its tokens above
/// all, is not passed on). HOME and TMPDIR are the job's `tmp/` instead: in the sandbox nothing
/// outside the job folder is writable.
const KEPT_ENV: &[&str] = &["PATH", "LANG", "LC_ALL", "TZ", "USER", "VIRTUAL_ENV", "PYTHONPATH", "SSL_CERT_FILE"];

/// A command with kbstack's clean environment (`KEPT_ENV`, `HOME` and `TMPDIR` set to `home`), no
/// stdin, piped output, in a process group of its own (so a kill reaches every child), killed when
/// dropped. Components and data apps start this way.
pub fn clean_command(program: impl AsRef<std::ffi::OsStr>, home: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    for key in KEPT_ENV {
        if let Ok(v) = std::env::var(key) {
            cmd.env(key, v);
        }
    }
    cmd.env("HOME", home).env("TMPDIR", home);
    cmd
}

/// Make `cmd`'s child die with kbstack (a crash must not leave it running unobserved) and enter
/// the sandbox that keeps it out of `stack_dir` but lets it write beneath `own_dir`. Built here
/// (it walks directories); the child only enters it, with no allocation between fork and exec.
/// Keep the returned ruleset until the command is spawned (the child gets its own copy of the fd).
pub async fn confine(cmd: &mut tokio::process::Command, stack_dir: &Path, own_dir: &Path, component: Option<String>) -> Result<Option<sandbox::Ruleset>, String> {
    let (stack, own) = (stack_dir.to_path_buf(), own_dir.to_path_buf());
    let ruleset = match tokio::task::spawn_blocking(move || sandbox::prepare(&stack, &own, component.as_deref())).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(format!("cannot set up the sandbox: {e}")),
        Err(e) => return Err(format!("setting up the sandbox crashed: {e}")),
    };
    let ruleset_fd = ruleset.as_ref().map(sandbox::Ruleset::raw_fd);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            sandbox::close_inherited_fds();
            if let Some(fd) = ruleset_fd {
                sandbox::enter(fd)?;
            }
            Ok(())
        });
    }
    Ok(ruleset)
}

/// The one kbstack variable a component sees; any other `KBSTACK_*` never reaches it.
const JOB_ID_VAR: &str = "KBSTACK_QUEUE_JOB_ID";

/// Run `spec` on the job's data folder `data_dir` (`<job folder>/data`); `stack_dir` is the
/// stack's data dir, which the component must not read.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    spec: &ProcessSpec,
    data_dir: &Path,
    stack_dir: &Path,
    env: &[(String, String)],
    timeout: Duration,
    cancel: &CancellationToken,
    logger: &Logger,
    on_start: impl FnOnce(u32),
) -> Exit {
    let Some((program, args)) = spec.command.split_first() else { return Exit::Failed("the component has no command".into()) };
    let job_dir = data_dir.parent().unwrap_or(data_dir).to_path_buf();
    let tmp = job_dir.join("tmp");
    if let Err(e) = std::fs::create_dir_all(&tmp) {
        return Exit::Failed(format!("cannot create the job's temporary folder: {e}"));
    }
    let mut cmd = clean_command(program, &tmp);
    cmd.args(args).current_dir(spec.working_dir.as_deref().unwrap_or(data_dir));
    if std::env::var("PYTHONUNBUFFERED").is_err() {
        cmd.env("PYTHONUNBUFFERED", "1");
    }
    for (k, v) in spec.env.iter().chain(env.iter()) {
        if k.starts_with("KBSTACK_") && k != JOB_ID_VAR {
            continue;
        }
        cmd.env(k, v);
    }
    // The component's id picks its registered code dir, which may lie inside the data dir.
    let component = env.iter().find(|(k, _)| k == "KBC_COMPONENTID").map(|(_, v)| v.clone());
    let ruleset = match confine(&mut cmd, stack_dir, &job_dir, component).await {
        Ok(r) => r,
        Err(e) => return Exit::Failed(e),
    };
    let spawned = cmd.spawn();
    // The child has its own copy of the ruleset fd (closed by its exec).
    drop(ruleset);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return Exit::Failed(format!("cannot start \"{program}\": {e}")),
    };
    let pid = child.id().unwrap_or(0);
    on_start(pid);
    let tail: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for (stream, which) in [
        (child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>), Stream::Stdout),
        (child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>), Stream::Stderr),
    ] {
        let Some(stream) = stream else { continue };
        let logger = logger.clone();
        let tail = tail.clone();
        readers.push(tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) => {
                        let line = line.trim_end().to_string();
                        if line.is_empty() {
                            continue;
                        }
                        {
                            let mut t = tail.lock();
                            t.push(line.clone());
                            if t.len() > 20 {
                                t.remove(0);
                            }
                        }
                        logger.output(which, &line);
                    }
                    Ok(None) => break,
                    Err(_) => break,
                }
            }
        }));
    }
    let stop = |child: &mut tokio::process::Child| {
        if pid > 0 {
            unsafe {
                libc::kill(-(pid as i32), libc::SIGTERM);
            }
        }
        let _ = child.start_kill();
    };
    let outcome = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => {
                use std::os::unix::process::ExitStatusExt;
                Some(s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(9)))
            }
            Err(e) => return Exit::Failed(format!("waiting for the component failed: {e}")),
        },
        _ = cancel.cancelled() => None,
        _ = tokio::time::sleep(timeout) => Some(-1),
    };
    let exit = match outcome {
        Some(code) if code >= 0 => {
            // Children that kept the pipes open do not hold the job.
            if pid > 0 {
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(2), futures::future::join_all(readers)).await;
            return Exit::Code(code, tail.lock().clone());
        }
        Some(_) => Exit::TimedOut(timeout.as_secs()),
        None => Exit::Cancelled,
    };
    stop(&mut child);
    if tokio::time::timeout(Duration::from_millis(1000), child.wait()).await.is_err() && pid > 0 {
        unsafe {
            libc::kill(-(pid as i32), libc::SIGKILL);
        }
        let _ = child.start_kill();
        let _ = tokio::time::timeout(Duration::from_millis(500), child.wait()).await;
    }
    if pid > 0 {
        unsafe {
            libc::kill(-(pid as i32), libc::SIGKILL);
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(300), futures::future::join_all(readers)).await;
    exit
}
