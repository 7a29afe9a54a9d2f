//! Child processes that die with the test process, and free ports.
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// Makes `cmd` run as `uid`/`gid` (when given) and receive SIGKILL when this process exits.
pub(crate) fn die_with_parent(cmd: &mut Command, user: Option<(u32, u32)>) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if let Some((uid, gid)) = user {
                if libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // After the credential change, which would clear it.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A loopback port nobody listens on now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// Waits until something accepts TCP connections on the port.
pub(crate) fn wait_for_port(port: u16, what: &str, timeout: Duration) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < timeout, "{what} did not listen on port {port} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The first of `names` found on PATH or in `extra_dirs`.
pub(crate) fn find_program(name: &str, extra_dirs: &[std::path::PathBuf]) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().cloned())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Run a server's `start` on a thread that lives as long as the process: `PR_SET_PDEATHSIG` fires
/// when the *thread* that forked the child exits, and a test's thread (or a tokio blocking thread)
/// ends long before the process does, which killed the shared server under later tests.
pub(crate) fn on_lasting_thread<T: Send + 'static>(start: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(start());
        loop {
            std::thread::park();
        }
    });
    rx.recv().expect("the test server failed to start (see the panic above)")
}
