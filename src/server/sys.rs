//! The few system calls that neither `mio` nor `socket2` wrap: the
//! open-file limit, the termination signals and the reload signal. Each `unsafe` block is a
//! plain libc call on values owned here.
#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

/// Raises the soft open-file limit (`RLIMIT_NOFILE`) to the hard limit and
/// returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit we own and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the rlimit we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    // rlim_t is u64 on Linux but not everywhere.
    #[allow(clippy::unnecessary_cast)]
    Ok(limit.rlim_cur as u64)
}

fn termination_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and edit the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread and in every thread it
/// starts afterwards, so that [`wait_for_termination`] can take them
/// synchronously: no signal handler, no async-signal-safety puzzle.
pub fn block_termination_signals() -> io::Result<()> {
    let set = termination_set();
    // SAFETY: pthread_sigmask reads the set we own; the old mask is not asked for.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Waits until SIGINT or SIGTERM arrives (they must be blocked first) and
/// returns its number.
pub fn wait_for_termination() -> io::Result<i32> {
    let set = termination_set();
    let mut signal: libc::c_int = 0;
    // SAFETY: sigwait reads the set and writes the signal number we own.
    let rc = unsafe { libc::sigwait(&set, &mut signal) };
    if rc == 0 {
        Ok(signal)
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// The write end of the reload signal's pipe, for the handler (-1: none).
static RELOAD_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_reload_signal(_: libc::c_int) {
    let fd = RELOAD_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe (signal-safety(7)); the
        // byte is a local, the descriptor stays open for the process's
        // life, and errno is put back as the interrupted code left it.
        unsafe {
            let errno = *libc::__errno_location();
            let byte = 1u8;
            libc::write(fd, std::ptr::addr_of!(byte).cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// SIGHUP, caught: [`ReloadSignal::wait`] returns once for each (several
/// close together may count as one).
#[derive(Debug)]
pub struct ReloadSignal(std::fs::File);

/// Catches SIGHUP from now on with a handler that only writes a byte to a
/// pipe (the self-pipe trick: the handler does nothing else, so nothing
/// unsafe in a signal context), and returns the pipe's read end. Call it
/// once; the handler stays for the process's life.
pub fn catch_reload_signal() -> io::Result<ReloadSignal> {
    use std::os::fd::FromRawFd;
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read, write] = fds;
    // The handler must never block: with the pipe full, a signal is
    // already pending to the reader, and the byte may be dropped.
    // SAFETY: fcntl edits the flags of the descriptor we just made.
    unsafe {
        let flags = libc::fcntl(write, libc::F_GETFL);
        libc::fcntl(write, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    RELOAD_PIPE.store(write, Ordering::Relaxed);
    // SAFETY: the sigaction struct is ours, zeroed then filled in; the
    // handler is an `extern "C" fn(c_int)`, as sa_sigaction without
    // SA_SIGINFO expects.
    let rc = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_reload_signal as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGHUP, &action, std::ptr::null_mut())
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `read` is a descriptor we own and hand to the File alone.
    Ok(ReloadSignal(unsafe { std::fs::File::from_raw_fd(read) }))
}

impl ReloadSignal {
    /// Blocks until the next SIGHUP.
    pub fn wait(&mut self) -> io::Result<()> {
        use std::io::Read;
        let mut byte = [0u8; 1];
        loop {
            match self.0.read(&mut byte) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Takes an exclusive `flock(2)` on `file` without waiting: `Ok(false)`
/// when another process holds it (the lock goes with the process, so a
/// crashed server never leaves a stale one).
pub fn lock_exclusive(file: &std::fs::File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock only acts on the descriptor, which `file` keeps open.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(false);
    }
    Err(e)
}
