//! Every child process we start: the installers, the interpreter probes of
//! discovery, resolver runs and `ensurepip`; how we wait for them, stop
//! them, and make sure none outlives us.
//!
//! These children start children of their own (a pyenv wrapper, pip's build
//! backends, uv's workers) that hold our pipes open and can write into an
//! environment. So:
//!
//! - [`prepare`] sets up every child command: a process group of its own
//!   (Unix), so that [`kill_group`] and [`Group`] reach its descendants; on
//!   Linux `PR_SET_PDEATHSIG(SIGKILL)`, so that the child dies with us even
//!   when we are killed with `SIGKILL`; and `BEEP_PYTHON_RUN=<run id>` in its
//!   environment ([`RUN_VAR`], [`run_id`]), which its descendants inherit.
//! - [`Group`] starts a prepared command and owns it until it is reaped:
//!   waiting without polling (a pidfd on Linux, a blocked `waitid` on a
//!   thread elsewhere), checking a cancel flag every [`POLL`], killing the
//!   whole group on cancel, timeout, drop, and after a normal exit (so no
//!   leftover descendant outlives its run). On Linux it also starts a
//!   *guard*: a small fork of ours that joins the child's process group and
//!   waits on a pipe that only we hold open; when we die, however we die,
//!   the pipe ends and the guard kills the whole group. `PR_SET_PDEATHSIG`
//!   alone would stop only the child: the setting is not inherited across
//!   `fork`, so pip's build backend would live on.
//! - [`kill_run`] finds every live process carrying a run's tag (also those
//!   that left the group, `setsid` daemons) and kills it. Recovery calls it
//!   before undoing anything, so that no installer of a crashed run writes
//!   into an environment while (or after) it is restored.
//!
//! # Threads
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that spawned the child exits,
//! not the process. So a child must be spawned from a thread that outlives
//! it: every caller here spawns, waits and reaps on the same thread
//! (installer runs in `installer::run` on the executor's or `lock`'s
//! worker threads, probes on discovery's workers, resolution through the
//! installer's run, `ensurepip` with `Command::output`), and those threads
//! are scoped: they end only after their children are reaped. Never hand a
//! prepared child to another thread and let the spawning one end.
//!
//! # The run id
//!
//! [`set_run_id`] is called once at the start of an apply with the
//! journal's id, so that recovery, which reads the journal, can name the
//! run to [`kill_run`]. Before that (and in commands that keep no journal)
//! the id is `<pid>-<start time>`, unique to this process.
//!
//! Outside Linux: no death signal, no guard, and [`kill_run`] is a no-op
//! returning 0 (there is no `/proc` to read environments from); process
//! groups and the tag are kept on every Unix.

use std::io;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The environment variable that tags every child with the run id.
pub const RUN_VAR: &str = "BEEP_PYTHON_RUN";

/// How often a wait checks its cancel flag. A cancelled child is killed
/// within this interval (plus the time to kill it); an exit is seen at once.
pub const POLL: Duration = Duration::from_millis(50);

/// How long [`output`] reads pipes that something outside the child's group
/// still holds after the child exited.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// How long [`kill_run`] waits for killed processes to be gone.
const KILL_RUN_PATIENCE: Duration = Duration::from_secs(10);

static RUN_ID: RwLock<Option<String>> = RwLock::new(None);

/// Sets the id that tags every child started from now on (the journal's
/// id, at the start of an apply). An empty id, or one holding a NUL byte
/// (which no environment can carry), is ignored.
pub fn set_run_id(id: &str) {
    if id.is_empty() || id.contains('\0') {
        return;
    }
    *RUN_ID.write().unwrap_or_else(PoisonError::into_inner) = Some(id.to_string());
}

/// The id children are tagged with: the one [`set_run_id`] set, else
/// `<pid>-<nanoseconds since the epoch at first use>`.
pub fn run_id() -> String {
    if let Some(id) = RUN_ID
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
    {
        return id.clone();
    }
    let mut slot = RUN_ID.write().unwrap_or_else(PoisonError::into_inner);
    slot.get_or_insert_with(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{}-{nanos}", std::process::id())
    })
    .clone()
}

/// Prepares a child command: its own process group (Unix), death with us
/// (Linux: `PR_SET_PDEATHSIG(SIGKILL)`), and the run tag in its
/// environment. Spawn it from a thread that outlives the child (see the
/// module docs).
/// Returns `command`, so that it chains like `Command`'s own setters.
pub fn prepare(command: &mut Command) -> &mut Command {
    command.env(RUN_VAR, run_id());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(target_os = "linux")]
    linux::die_with_us(command);
    command
}

/// [`prepare`] as a method, for a `Command` built in one chain.
pub trait Prepared {
    fn prepared(&mut self) -> &mut Self;
}

impl Prepared for Command {
    fn prepared(&mut self) -> &mut Self {
        prepare(self)
    }
}

/// Kills the child's process group, then the child, and reaps it. For
/// children not started through [`Group`].
pub fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: killpg only sends a signal. The group is the child's
        // own (see `prepare`), and the child is not reaped yet, so its
        // group id cannot belong to anyone else.
        unsafe { libc::killpg(pid, libc::SIGKILL) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// How a [`Group::wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The child exited; call [`Group::finish`] for its status.
    Exited,
    /// The cancel flag was set: the group was killed and reaped.
    Cancelled,
    /// The deadline passed: the group was killed and reaped.
    TimedOut,
}

/// A running child in a process group of its own, owned until reaped.
/// Dropping it kills the group and reaps the child.
#[derive(Debug)]
pub struct Group {
    child: Child,
    /// The child's exit status, once reaped.
    status: Option<ExitStatus>,
    #[cfg(target_os = "linux")]
    guard: Option<libc::pid_t>,
    /// Readable once the child has exited (Linux ≥ 5.3).
    #[cfg(target_os = "linux")]
    pidfd: Option<std::os::fd::OwnedFd>,
    /// Fallback: a thread blocked in `waitid(WNOWAIT)` reports the exit.
    #[cfg(unix)]
    exited: Option<std::sync::mpsc::Receiver<()>>,
}

impl Group {
    /// [`prepare`]s `command` and starts it (with its guard on Linux).
    pub fn spawn(command: &mut Command) -> io::Result<Group> {
        prepare(command);
        let child = command.spawn()?;
        #[cfg(target_os = "linux")]
        let (guard, pidfd) = {
            let pid = libc::pid_t::try_from(child.id()).ok();
            (
                pid.and_then(linux::start_guard),
                pid.and_then(linux::pidfd_open),
            )
        };
        Ok(Group {
            child,
            status: None,
            #[cfg(target_os = "linux")]
            guard,
            #[cfg(target_os = "linux")]
            pidfd,
            #[cfg(unix)]
            exited: None,
        })
    }

    /// The child, to take its pipes. Do not wait for it through this.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The child's process id (and its group's).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the child exits (not reaping it), `cancel` is set, or
    /// `deadline` passes. On cancel and timeout the group is killed and
    /// reaped before this returns.
    pub fn wait(
        &mut self,
        cancel: Option<&AtomicBool>,
        deadline: Option<Instant>,
    ) -> io::Result<Waited> {
        loop {
            if cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
                self.kill();
                return Ok(Waited::Cancelled);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                self.kill();
                return Ok(Waited::TimedOut);
            }
            // Without a cancel flag, only the deadline bounds the nap.
            let nap = match (cancel, deadline) {
                (Some(_), Some(d)) => Some(POLL.min(d - now)),
                (Some(_), None) => Some(POLL),
                (None, Some(d)) => Some(d - now),
                (None, None) => None,
            };
            if self.exited_within(nap)? {
                return Ok(Waited::Exited);
            }
        }
    }

    /// Whether the child exits within `nap` (forever when `None`).
    fn exited_within(&mut self, nap: Option<Duration>) -> io::Result<bool> {
        if self.status.is_some() {
            return Ok(true);
        }
        #[cfg(target_os = "linux")]
        if let Some(pidfd) = &self.pidfd {
            return linux::readable(pidfd, nap);
        }
        #[cfg(unix)]
        {
            let receiver = match &self.exited {
                Some(receiver) => receiver,
                None => self.exited.insert(unix::exit_notifier(self.child.id())?),
            };
            match nap {
                None => Ok(receiver.recv().is_ok()),
                Some(nap) => match receiver.recv_timeout(nap) {
                    Ok(()) => Ok(true),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(false),
                    // The waiter gave up (waitid failed): ask directly.
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        self.status = self.child.try_wait()?;
                        if self.status.is_none() {
                            std::thread::sleep(nap.min(Duration::from_millis(5)));
                        }
                        Ok(self.status.is_some())
                    }
                },
            }
        }
        #[cfg(not(unix))]
        {
            // No process groups and no way to wait without reaping: poll,
            // briefly, and reap.
            let deadline = nap.map(|n| Instant::now() + n);
            let mut sleep = Duration::from_millis(1);
            loop {
                if let Some(status) = self.child.try_wait()? {
                    self.status = Some(status);
                    return Ok(true);
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(false);
                }
                std::thread::sleep(sleep);
                sleep = (sleep * 2).min(Duration::from_millis(10));
            }
        }
    }

    /// After [`Waited::Exited`]: kills whatever is left of the child's
    /// group (descendants it left behind, the guard), reaps the child and
    /// returns its exit status.
    pub fn finish(mut self) -> io::Result<ExitStatus> {
        self.kill_rest();
        let status = match self.status {
            Some(status) => status,
            None => self.child.wait()?,
        };
        self.status = Some(status);
        self.reap_guard();
        Ok(status)
    }

    /// Kills the group and reaps the child, now.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            self.kill_rest();
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        self.reap_guard();
    }

    /// `SIGKILL` to the child's group. Only while the child is unreaped (its
    /// zombie keeps the group id ours), or while the guard, a member, lives.
    fn kill_rest(&mut self) {
        #[cfg(target_os = "linux")]
        let reserved = self.status.is_none() || self.guard.is_some();
        #[cfg(all(unix, not(target_os = "linux")))]
        let reserved = self.status.is_none();
        #[cfg(unix)]
        if reserved && let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: killpg only sends a signal, to a group that is ours.
            unsafe { libc::killpg(pid, libc::SIGKILL) };
        }
    }

    fn reap_guard(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(guard) = self.guard.take() {
            // The guard is in the group and was killed with it; it is our
            // child, so reap it rather than leave a zombie.
            // SAFETY: kill and waitpid of our own child process.
            unsafe {
                libc::kill(guard, libc::SIGKILL);
                while libc::waitpid(guard, std::ptr::null_mut(), 0) < 0
                    && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
                {
                }
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What [`output`] saw.
#[derive(Debug)]
pub enum Ran {
    Exited(Output),
    Cancelled,
    TimedOut,
}

/// Runs `command` as a [`Group`] with stdin closed and both output streams
/// captured, until it exits, `cancel` is set or `deadline` passes.
pub fn output(
    command: &mut Command,
    cancel: Option<&AtomicBool>,
    deadline: Option<Instant>,
) -> io::Result<Ran> {
    use std::io::Read;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut group = Group::spawn(command)?;
    // Both pipes are read on their own threads, so that a chatty child
    // cannot block on a full pipe while we read the other.
    let (tx, rx) = std::sync::mpsc::channel::<(bool, Vec<u8>)>();
    let pipes = [
        group
            .child()
            .stdout
            .take()
            .map(|p| (true, Box::new(p) as Box<dyn Read + Send>)),
        group
            .child()
            .stderr
            .take()
            .map(|p| (false, Box::new(p) as Box<dyn Read + Send>)),
    ];
    let mut pending = 0;
    for (is_stdout, mut pipe) in pipes.into_iter().flatten() {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("beep-child-pipe".into())
            .spawn(move || {
                let mut buf = Vec::new();
                // A read error keeps what was read; the caller judges it.
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send((is_stdout, buf));
            })?;
        pending += 1;
    }
    drop(tx);
    match group.wait(cancel, deadline)? {
        Waited::Exited => {}
        Waited::Cancelled => return Ok(Ran::Cancelled),
        Waited::TimedOut => return Ok(Ran::TimedOut),
    }
    // Something the child started may still hold the pipes: finishing
    // kills its group, and the pipes then end. A descendant that left the
    // group could hold them forever, so they are read until the deadline
    // (or a short grace) only.
    let status = group.finish()?;
    let now = Instant::now();
    let until = deadline
        .unwrap_or(now + OUTPUT_GRACE)
        .max(now + Duration::from_millis(200));
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    for _ in 0..pending {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok((true, buf)) => stdout = buf,
            Ok((false, buf)) => stderr = buf,
            Err(_) => break,
        }
    }
    Ok(Ran::Exited(Output {
        status,
        stdout,
        stderr,
    }))
}

/// Kills every live process tagged with run `id` (`BEEP_PYTHON_RUN=<id>`
/// in its environment), this process excepted, waits until they are gone,
/// and returns how many there were. Rescans until none is left, so that a
/// process that forked while it was being killed is caught too.
///
/// Linux only (it reads `/proc/*/environ`); elsewhere it does nothing and
/// returns 0. Processes of other users, whose environment we cannot read,
/// are not ours and are left alone. Fails with `TimedOut` if a killed
/// process is still there after 10 s (one stuck in the kernel).
pub fn kill_run(id: &str) -> io::Result<usize> {
    if id.is_empty() || id.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not a run id", id.escape_debug()),
        ));
    }
    #[cfg(target_os = "linux")]
    {
        linux::kill_run(id)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(0)
    }
}

/// `exit status 1`, `killed by signal 11 (SIGSEGV)`: without std's
/// "(core dumped)", which depends on the machine's ulimit.
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                2 => " (SIGINT)",
                4 => " (SIGILL)",
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("killed by signal {signal}{name}");
        }
    }
    status.to_string()
}

#[cfg(unix)]
mod unix {
    use std::io;
    use std::sync::mpsc::{Receiver, channel};

    /// A thread that blocks until the child `pid` exits, without reaping it
    /// (`waitid` with `WNOWAIT`: the zombie keeps its group id ours until
    /// it is killed and reaped), then reports on the channel. It ends with
    /// the child; if `waitid` fails it ends at once, disconnecting.
    pub(super) fn exit_notifier(pid: u32) -> io::Result<Receiver<()>> {
        let id = libc::id_t::from(pid);
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("beep-child-wait".into())
            .spawn(move || {
                loop {
                    // SAFETY: waitid writes only into `info`.
                    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
                    let rc = unsafe {
                        libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT)
                    };
                    if rc == 0 {
                        let _ = tx.send(());
                        return;
                    }
                    if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                        return;
                    }
                }
            })?;
        Ok(rx)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeSet;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use super::{KILL_RUN_PATIENCE, RUN_VAR};

    /// Adds `PR_SET_PDEATHSIG(SIGKILL)` to the child, before it executes.
    ///
    /// A hook makes std start the child with `fork` and `execvp` rather
    /// than `posix_spawn`, and `execvp` runs a file that is no program
    /// (neither `#!` nor ELF) with `/bin/sh` instead of failing. We never
    /// want that (discovery meets such files, and must report them as not
    /// startable, not run them as shell scripts), so the hook refuses them
    /// itself with `ENOEXEC`, as `posix_spawn` did. (A program given
    /// without a `/` is looked up on `PATH` by `execvp`; those are tools we
    /// name, and are not checked.)
    pub(super) fn die_with_us(command: &mut Command) {
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        let program = command
            .get_program()
            .as_encoded_bytes()
            .contains(&b'/')
            .then(|| std::ffi::CString::new(command.get_program().as_encoded_bytes()).ok())
            .flatten();
        // SAFETY: the hook runs in the child between fork and exec and
        // calls only async-signal-safe functions (prctl, getppid, open,
        // read, close); the error it may build holds just an errno, no
        // allocation.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                // We may have died before the setting took: then the child
                // has been handed to another parent already.
                if libc::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                if let Some(program) = &program
                    && !looks_executable(program)
                {
                    return Err(io::Error::from_raw_os_error(libc::ENOEXEC));
                }
                Ok(())
            })
        };
    }

    /// Whether `program` starts like something `execve` runs: `#!` or ELF.
    /// A file we cannot read (execute-only, or missing) is left for
    /// `execve` to judge.
    ///
    /// # Safety
    ///
    /// Async-signal-safe: only open, read and close.
    unsafe fn looks_executable(program: &std::ffi::CStr) -> bool {
        unsafe {
            let fd = libc::open(program.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return true;
            }
            let mut head = [0u8; 4];
            let read = libc::read(fd, head.as_mut_ptr().cast(), head.len());
            libc::close(fd);
            match read {
                n if n < 0 => true,
                n => {
                    let head = &head[..n as usize];
                    head.starts_with(b"#!") || head == b"\x7fELF"
                }
            }
        }
    }

    /// The lifeline: a pipe whose write end only this process holds
    /// (close-on-exec, so children drop it when they execute). Guards wait
    /// on its read end; it ends when we do.
    fn lifeline() -> Option<RawFd> {
        static LIFELINE: OnceLock<Option<(OwnedFd, OwnedFd)>> = OnceLock::new();
        LIFELINE
            .get_or_init(|| {
                let mut fds = [0 as RawFd; 2];
                // SAFETY: pipe2 writes two descriptors into `fds`.
                if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                    return None;
                }
                // SAFETY: both descriptors are fresh and owned only here.
                Some(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
            })
            .as_ref()
            .map(|(read, _)| read.as_raw_fd())
    }

    /// Forks the guard of the group led by `leader`; returns its pid.
    pub(super) fn start_guard(leader: libc::pid_t) -> Option<libc::pid_t> {
        let lifeline = lifeline()?;
        // SAFETY: the forked child runs only `guard`, which calls nothing
        // but async-signal-safe system calls and never returns: it neither
        // allocates nor touches a lock another thread may have held.
        match unsafe { libc::fork() } {
            -1 => None,
            0 => unsafe { guard(leader, lifeline) },
            pid => Some(pid),
        }
    }

    /// The guard: joins the child's group, drops every descriptor but the
    /// lifeline, and waits; when the lifeline ends (we died, or executed
    /// another program), it kills the whole group, itself included.
    unsafe fn guard(leader: libc::pid_t, lifeline: RawFd) -> ! {
        unsafe {
            if libc::setpgid(0, leader) != 0 {
                libc::_exit(0);
            }
            // The handlers we inherited (Ctrl-C's) are not ours to run here.
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
                libc::signal(signal, libc::SIG_DFL);
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            // Our copies of the parent's descriptors (its pipes to readers,
            // the home lock, the lifeline's write end) must go: a reader
            // would wait for us, a lock would outlive its owner.
            if libc::dup2(lifeline, 0) != 0 {
                libc::_exit(0);
            }
            close_from(1);
            libc::prctl(
                libc::PR_SET_NAME,
                c"beep-guard".as_ptr() as libc::c_ulong,
                0,
                0,
                0,
            );
            loop {
                let mut fd = libc::pollfd {
                    fd: 0,
                    events: libc::POLLIN,
                    revents: 0,
                };
                let ready = libc::poll(&mut fd, 1, -1);
                if ready > 0 {
                    break;
                }
                if ready < 0 && *libc::__errno_location() != libc::EINTR {
                    libc::_exit(0);
                }
            }
            // Nothing is ever written to the lifeline: readable means ended.
            libc::kill(-leader, libc::SIGKILL);
            libc::_exit(0)
        }
    }

    /// Closes every descriptor from `first` up.
    unsafe fn close_from(first: libc::c_uint) {
        unsafe {
            if libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0) == 0 {
                return;
            }
            // Before Linux 5.9: one by one, up to the descriptor limit.
            let mut limit: libc::rlimit = std::mem::zeroed();
            let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                limit.rlim_cur.min(65_536) as libc::c_int
            } else {
                4096
            };
            for fd in first as libc::c_int..max {
                libc::close(fd);
            }
        }
    }

    /// A pidfd for `pid` (Linux ≥ 5.3), or `None`.
    pub(super) fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
        // SAFETY: the descriptor is fresh and owned only here.
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Whether `fd` becomes readable within `nap` (forever when `None`);
    /// a pidfd is readable once its process has exited.
    pub(super) fn readable(fd: &OwnedFd, nap: Option<Duration>) -> io::Result<bool> {
        let deadline = nap.map(|n| Instant::now() + n);
        loop {
            let timeout = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    // Round up, so a short nap never becomes a busy loop.
                    libc::c_int::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
                }
            };
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll reads and writes only `pfd`.
            match unsafe { libc::poll(&mut pfd, 1, timeout) } {
                n if n > 0 => return Ok(true),
                0 => return Ok(false),
                _ => {
                    let err = io::Error::last_os_error();
                    if err.raw_os_error() != Some(libc::EINTR) {
                        return Err(err);
                    }
                }
            }
        }
    }

    pub(super) fn kill_run(id: &str) -> io::Result<usize> {
        let tag = format!("{RUN_VAR}={id}").into_bytes();
        let deadline = Instant::now() + KILL_RUN_PATIENCE;
        let mut killed = BTreeSet::new();
        loop {
            let tagged = tagged_processes(&tag)?;
            if tagged.is_empty() {
                return Ok(killed.len());
            }
            let mut dying = Vec::new();
            for pid in tagged {
                // Through a pidfd where we can, checked again after it is
                // open: a pid that was reused in between is not signalled.
                match pidfd_open(pid) {
                    Some(fd) => {
                        if !carries(pid, &tag) {
                            continue;
                        }
                        // SAFETY: sends a signal through a pidfd we own.
                        let sent = unsafe {
                            libc::syscall(
                                libc::SYS_pidfd_send_signal,
                                fd.as_raw_fd(),
                                libc::SIGKILL,
                                std::ptr::null::<libc::siginfo_t>(),
                                0,
                            )
                        };
                        if sent == 0 {
                            killed.insert(pid);
                            dying.push((pid, Some(fd)));
                        }
                    }
                    None => {
                        // SAFETY: kill only sends a signal.
                        if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                            killed.insert(pid);
                            dying.push((pid, None));
                        }
                    }
                }
            }
            for (pid, fd) in dying {
                loop {
                    let gone = match &fd {
                        Some(fd) => readable(fd, Some(Duration::from_millis(20)))?,
                        None => {
                            let gone = exited(pid);
                            if !gone {
                                std::thread::sleep(Duration::from_millis(5));
                            }
                            gone
                        }
                    };
                    if gone {
                        break;
                    }
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "process {pid} of run `{id}` was killed but is still there after {}s",
                                KILL_RUN_PATIENCE.as_secs()
                            ),
                        ));
                    }
                }
            }
        }
    }

    /// Live processes (not zombies: their environment reads empty) whose
    /// environment holds `tag`, this one excepted.
    fn tagged_processes(tag: &[u8]) -> io::Result<Vec<libc::pid_t>> {
        let me = std::process::id();
        let mut found = Vec::new();
        for entry in fs_err::read_dir("/proc")? {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if pid != me
                && let Ok(pid) = libc::pid_t::try_from(pid)
                && carries(pid, tag)
            {
                found.push(pid);
            }
        }
        Ok(found)
    }

    /// Whether `/proc/<pid>/environ` holds the entry `tag`. Unreadable
    /// (gone, another user's) means no.
    fn carries(pid: libc::pid_t, tag: &[u8]) -> bool {
        fs_err::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|environ| environ.split(|&b| b == 0).any(|entry| entry == tag))
    }

    /// Whether `pid` is gone or a zombie.
    fn exited(pid: libc::pid_t) -> bool {
        match fs_err::read_to_string(format!("/proc/{pid}/stat")) {
            // `pid (comm) S ...`: the state follows the last `)`.
            Ok(stat) => stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| matches!(state, "Z" | "X" | "x")),
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_commands_carry_the_run_id() {
        set_run_id("test-run-1");
        set_run_id("");
        set_run_id("bad\0id");
        let mut command = Command::new("true");
        prepare(&mut command);
        let tag = command
            .get_envs()
            .find(|(k, _)| *k == RUN_VAR)
            .and_then(|(_, v)| v);
        assert_eq!(tag, Some(std::ffi::OsStr::new("test-run-1")));
    }

    /// The wait used where there is no pidfd (other Unixes, Linux < 5.3):
    /// a thread blocked in `waitid` sees the exit; cancelling kills.
    #[cfg(unix)]
    #[test]
    fn the_waitid_fallback_sees_an_exit_and_a_cancel() {
        let spawn = |script: &str| {
            let mut group = Group::spawn(Command::new("sh").args(["-c", script])).unwrap();
            #[cfg(target_os = "linux")]
            {
                group.pidfd = None;
            }
            group
        };
        let mut quick = spawn("exit 7");
        assert_eq!(quick.wait(None, None).unwrap(), Waited::Exited);
        assert_eq!(quick.finish().unwrap().code(), Some(7));

        let mut slow = spawn("sleep 900");
        let cancel = AtomicBool::new(true);
        assert_eq!(slow.wait(Some(&cancel), None).unwrap(), Waited::Cancelled);
        assert!(slow.status.is_some(), "a cancelled child is reaped");

        let mut slow = spawn("sleep 900");
        let past = Instant::now();
        assert_eq!(slow.wait(None, Some(past)).unwrap(), Waited::TimedOut);
    }

    /// The death-signal hook makes std use `execvp`, which would run a
    /// file without `#!` through `/bin/sh`: such a file is refused, as
    /// `posix_spawn` refused it, and never run.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_that_is_no_program_is_refused_not_run_by_the_shell() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let script = dir.path().join("python3.99");
        fs_err::write(&script, format!("touch '{}'\n", marker.display())).unwrap();
        fs_err::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = Group::spawn(&mut Command::new(&script)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOEXEC), "{err}");
        assert!(!marker.exists(), "the file was run by a shell");

        // With `#!`, the same file is a program.
        fs_err::write(
            &script,
            format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
        )
        .unwrap();
        let mut group = Group::spawn(&mut Command::new(&script)).unwrap();
        assert_eq!(group.wait(None, None).unwrap(), Waited::Exited);
        assert!(group.finish().unwrap().success());
        assert!(marker.exists());
    }

    #[test]
    fn a_run_id_that_no_environment_can_hold_is_refused() {
        for bad in ["", "a\0b"] {
            let err = kill_run(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
    }
}
