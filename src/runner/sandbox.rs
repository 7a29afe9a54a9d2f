//! Landlock sandbox of process components (and the Python transformation): a component may read
//! and execute anything on the host except the stack's data dir (the master token, every
//! project's tables and files), `/proc` (the server's environment and memory) and `/dev` (raw
//! disks), may write only beneath its own job folder, `/dev/shm` and harmless devices such as
//! `/dev/null`, and runs without capabilities (root with them gets around Landlock).
//!
//! Landlock only grants, it cannot deny beneath a granted directory, so "everything except" is
//! built as an allow-list: walking from `/` towards each excluded path, every sibling entry is
//! granted (data dir `/tmp/x/data`: every entry of `/` but `tmp`, `proc` and `dev`, every entry
//! of `/tmp` but `x`, every entry of `/tmp/x` but `data`).
//!
//! The ruleset is built in the parent before the spawn (allocating, walking directories); the
//! child only enters it between fork and exec ([`enter`]: raw syscalls, nothing allocated).
use std::collections::HashSet;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

// Filesystem access rights (linux/landlock.h); bits 0..=12 exist since ABI 1.
const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_BLOCK: u64 = 1 << 11;
const ABI1_RIGHTS: u64 = (1 << 13) - 1;
const REFER: u64 = 1 << 13; // ABI 2
const TRUNCATE: u64 = 1 << 14; // ABI 3
const IOCTL_DEV: u64 = 1 << 15; // ABI 5
/// The rights a rule on a non-directory may carry (the kernel refuses directory rights there).
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;
const READ_EXEC: u64 = READ_FILE | READ_DIR | EXECUTE;
/// ABI 6: no signals to processes outside the sandbox (the server, other jobs).
const SCOPE_SIGNAL: u64 = 1 << 1;

const CREATE_RULESET_VERSION: libc::c_uint = 1;
const RULE_PATH_BENEATH: libc::c_uint = 1;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI version of the running kernel, None without Landlock (warned about once).
fn abi() -> Option<i64> {
    static ABI: OnceLock<Option<i64>> = OnceLock::new();
    *ABI.get_or_init(|| {
        // SAFETY: the version query takes no attribute and touches no memory.
        let v = unsafe {
            libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<RulesetAttr>(), 0usize, CREATE_RULESET_VERSION)
        };
        if v < 1 {
            tracing::warn!(
                error = %io::Error::last_os_error(),
                "Landlock is not available: process components run WITHOUT a filesystem sandbox and can read the data dir"
            );
            return None;
        }
        Some(v)
    })
}

/// A Landlock ruleset ready for a child to enter; the fd closes when it is dropped (after the
/// spawn: the child has its own copy, which exec closes).
pub struct Ruleset {
    fd: OwnedFd,
    handled: u64,
}

impl Ruleset {
    fn new(abi: i64) -> io::Result<Ruleset> {
        let mut handled = ABI1_RIGHTS;
        if abi >= 2 {
            handled |= REFER;
        }
        if abi >= 3 {
            handled |= TRUNCATE;
        }
        if abi >= 5 {
            handled |= IOCTL_DEV;
        }
        let attr = RulesetAttr { handled_access_fs: handled, handled_access_net: 0, scoped: if abi >= 6 { SCOPE_SIGNAL } else { 0 } };
        // SAFETY: attr outlives the call and its size is passed; older kernels accept the larger
        // struct because the fields they do not know are zero.
        let fd = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, &attr as *const RulesetAttr, size_of::<RulesetAttr>(), 0u32) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd (O_CLOEXEC) that nothing else owns.
        Ok(Ruleset { fd: unsafe { OwnedFd::from_raw_fd(fd as RawFd) }, handled })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Open `path` without following a final symlink; None when it does not exist.
    fn open(path: &Path) -> io::Result<Option<(OwnedFd, libc::mode_t)>> {
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a valid C string; O_PATH opens nothing for reading or writing.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::NotFound { Ok(None) } else { Err(e) };
        }
        // SAFETY: fd was just opened and is owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: st is a valid out-parameter.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Some((fd, st.st_mode & libc::S_IFMT)))
    }

    /// Grant `access` beneath `path` (only its file rights when it is not a directory). Symlinks
    /// are skipped: what they point to is granted, or not, where it really lives.
    fn allow(&self, path: &Path, access: u64) -> io::Result<()> {
        let Some((fd, kind)) = Ruleset::open(path)? else { return Ok(()) };
        let access = match kind {
            libc::S_IFLNK => return Ok(()),
            libc::S_IFDIR => access,
            _ => access & FILE_RIGHTS,
        } & self.handled;
        if access == 0 {
            return Ok(());
        }
        let rule = PathBeneathAttr { allowed_access: access, parent_fd: fd.as_raw_fd() };
        // SAFETY: rule outlives the call; both fds are open.
        let r = unsafe { libc::syscall(libc::SYS_landlock_add_rule, self.fd.as_raw_fd(), RULE_PATH_BENEATH, &rule as *const PathBeneathAttr, 0u32) };
        if r != 0 {
            return Err(io::Error::other(format!("{}: {}", path.display(), io::Error::last_os_error())));
        }
        Ok(())
    }

    /// Grant `access` to everything on the host except the `excluded` paths (canonical, absolute).
    fn allow_all_except(&self, excluded: &[PathBuf], access: u64) -> io::Result<()> {
        let root = Path::new("/");
        if excluded.iter().any(|e| e == root) {
            return Ok(());
        }
        // Directories on the way to an excluded path: walked into, never granted as a whole.
        let on_the_way: HashSet<&Path> = excluded.iter().flat_map(|e| e.ancestors().skip(1)).collect();
        let mut todo = vec![root.to_path_buf()];
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if excluded.contains(&path) {
                    continue;
                }
                if on_the_way.contains(path.as_path()) {
                    todo.push(path);
                    continue;
                }
                if let Err(e) = self.allow(&path, access) {
                    // Not granted means not readable: safe to go on without it.
                    tracing::debug!("sandbox: {path:?} not granted: {e}", path = path.display());
                }
            }
        }
        Ok(())
    }
}

/// The directory a process component was registered from (`component_dir` of its definition in
/// `<data-dir>/components/`), as `registry::parse_process` reads it.
fn registered_dir(stack_dir: &Path, component_id: &str) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(stack_dir.join("components"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files.into_iter().find_map(|f| {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).ok()?).ok()?;
        if v["id"].as_str() != Some(component_id) {
            return None;
        }
        v["component_dir"].as_str().map(PathBuf::from).or_else(|| f.parent().map(Path::to_path_buf))
    })
}

/// The component's own code dir when it lies inside the data dir (elsewhere it is readable
/// anyway). Never the data dir itself, its `components/` (definitions may carry secrets in
/// `env`) or `job-data/` (other jobs' data).
fn component_code_dir(stack_dir: &Path, component_id: Option<&str>) -> Option<PathBuf> {
    let dir = std::fs::canonicalize(registered_dir(stack_dir, component_id?)?).ok()?;
    let inside = dir.strip_prefix(stack_dir).ok()?;
    let first = inside.components().next()?;
    if first.as_os_str() == "components" || first.as_os_str() == "job-data" {
        tracing::warn!(dir = %dir.display(), "a component's directory inside the data dir's components/ or job-data/ is not readable by it");
        return None;
    }
    Some(dir)
}

/// Device nodes a component may open: the harmless ones. The rest of /dev is not readable (a
/// raw disk such as /dev/vda holds the data dir too).
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"];

/// The ruleset for one run: `stack_dir` the stack's data dir, `job_dir` the job's own folder
/// (the parent of its `data/`). Ok(None) when the kernel has no Landlock.
pub fn prepare(stack_dir: &Path, job_dir: &Path, component_id: Option<&str>) -> Result<Option<Ruleset>, String> {
    let Some(abi) = abi() else { return Ok(None) };
    let canonical = |p: &Path| std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()));
    let stack_dir = canonical(stack_dir)?;
    let job_dir = canonical(job_dir)?;
    let rules = Ruleset::new(abi).map_err(|e| format!("creating the Landlock ruleset: {e}"))?;
    // Device nodes are never made: one of a disk would read the data dir around the sandbox.
    let full = rules.handled & !(MAKE_CHAR | MAKE_BLOCK);
    let excluded = [stack_dir.clone(), PathBuf::from("/proc"), PathBuf::from("/dev")];
    rules.allow_all_except(&excluded, READ_EXEC).map_err(|e| format!("listing the host's directories: {e}"))?;
    rules.allow(&job_dir, full).map_err(|e| e.to_string())?;
    rules.allow(Path::new("/dev"), READ_DIR).map_err(|e| e.to_string())?;
    for dev in DEVICES {
        if let Err(e) = rules.allow(Path::new(dev), READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV) {
            tracing::debug!("sandbox: {dev} not granted: {e}");
        }
    }
    // Python's multiprocessing keeps its semaphores in /dev/shm (unless the data dir is there).
    if !stack_dir.starts_with("/dev/shm")
        && let Err(e) = rules.allow(Path::new("/dev/shm"), full)
    {
        tracing::debug!("sandbox: /dev/shm not granted: {e}");
    }
    if let Some(dir) = component_code_dir(&stack_dir, component_id) {
        rules.allow(&dir, READ_EXEC).map_err(|e| e.to_string())?;
    }
    Ok(Some(rules))
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Drop every capability, for good: kbstack runs as root, and a root process with capabilities
/// gets around Landlock (loading a kernel module, reading the server's memory through BPF).
/// Being uid 0 stays: root-owned files, like a venv under /root, remain readable.
fn drop_capabilities() -> io::Result<()> {
    // SAFETY: plain syscalls; the cap structs live on the stack for the duration of the call.
    unsafe {
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        // Emptying the bounding set keeps exec from handing root its capabilities back. EPERM:
        // not privileged, nothing to drop; EINVAL: past the kernel's last capability.
        for cap in 0..64 {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                let e = io::Error::last_os_error();
                if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EPERM)) {
                    break;
                }
                return Err(e);
            }
        }
        let header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
        let data = [CapData { effective: 0, permitted: 0, inheritable: 0 }, CapData { effective: 0, permitted: 0, inheritable: 0 }];
        if libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Let exec close every descriptor above stderr: kbstack's own are close-on-exec, but one it
/// inherited without the flag (from whatever started it) would reach the component. Kernels
/// before 5.11 lack the call; nothing more is done there.
pub fn close_inherited_fds() {
    // SAFETY: a plain syscall on integers, safe between fork and exec.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
    }
}

/// Enter the sandbox: run in the child between fork and exec, so only raw syscalls, no
/// allocation. NO_NEW_PRIVS is what lets a process restrict itself (and keeps setuid binaries
/// from lifting the sandbox).
pub fn enter(ruleset_fd: RawFd) -> io::Result<()> {
    drop_capabilities()?;
    // SAFETY: plain syscalls on integers.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, ruleset_fd, 0u32) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
