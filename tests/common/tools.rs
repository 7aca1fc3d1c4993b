//! Third-party clients (headless Chromium through node, Python's
//! `websockets` and `requests`) run as child processes by the ignored
//! tests that `.ci/run` runs after `.ci/install-test-deps`.
//!
//! When such a test runs, a missing tool is a failure with a message that
//! says how to install it, never a silent skip.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "install the test tools with `bash .ci/install-test-deps` \
     (the ignored tests are run by .ci/run)";

/// The folder of the node scripts: `tests/browser`.
pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// The folder of the Python scripts: `tests/interop`.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Panics unless `program args` starts and exits with status 0.
fn require(program: &str, args: &[&str], what: &str) {
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{what} is missing (`{program} {args:?}` exited with {s}): {INSTALL_HINT}"),
        Err(e) => panic!("{what} is missing (cannot run `{program}`: {e}): {INSTALL_HINT}"),
    }
}

/// A `node` command for `tests/browser/{script}`, after checking that node,
/// playwright-core and Chromium are all there.
pub fn node_script(script: &str) -> Command {
    require("node", &["--version"], "node");
    let dir = browser_dir();
    let playwright = dir.join("node_modules/playwright-core/package.json");
    assert!(
        playwright.is_file(),
        "playwright-core is missing ({} not found): {INSTALL_HINT}",
        playwright.display()
    );
    let chromium =
        std::env::var("PUSHWIRE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    require(&chromium, &["--version"], "Chromium");
    let mut command = Command::new("node");
    command.arg(dir.join(script)).current_dir(dir);
    command
}

/// A `python3` command for `tests/interop/{script}`, after checking that
/// the Python modules it imports are installed.
pub fn python_script(script: &str) -> Command {
    python_script_importing(script, &["websockets", "requests"])
}

/// [`python_script`] for a script that imports `modules` (the names
/// `import` takes: `jwt` for PyJWT).
pub fn python_script_importing(script: &str, modules: &[&str]) -> Command {
    require(
        "python3",
        &["-c", &format!("import {}", modules.join(", "))],
        &format!("python3 with the modules {}", modules.join(", ")),
    );
    let mut command = Command::new("python3");
    command.arg(interop_dir().join(script));
    command
}

/// A `promtool` command (Debian package `prometheus`), after checking
/// that it runs.
pub fn promtool() -> Command {
    require(
        "promtool",
        &["--version"],
        "promtool (Debian package prometheus)",
    );
    Command::new("promtool")
}

/// A `prometheus` server command (Debian package `prometheus`), after
/// checking that it runs.
pub fn prometheus() -> Command {
    let program = std::env::var("PUSHWIRE_PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
    require(
        &program,
        &["--version"],
        "prometheus (Debian package prometheus)",
    );
    Command::new(program)
}

/// A client script started with [`spawn`]; [`Running::finish`] judges it.
pub struct Running {
    shown: String,
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// Starts `command` with its output captured, drained on threads so that
/// a chatty child never blocks on a full pipe.
pub fn spawn(mut command: Command) -> Running {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}: {INSTALL_HINT}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    Running {
        shown,
        child,
        stdout: Some(stdout),
        stderr: Some(stderr),
    }
}

impl Running {
    /// Waits for the script (stopping it after `limit`), requires exit
    /// status 0 and returns its last stdout line parsed as JSON. Its output
    /// is shown when anything goes wrong.
    pub fn finish(mut self, limit: Duration) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                self.stop();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let shown = std::mem::take(&mut self.shown);
        let stdout = self.stdout.take().unwrap().join().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        let Some(status) = status else {
            panic!("{shown} ran longer than {limit:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        };
        assert!(
            status.success(),
            "{shown} failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!(
                "{shown}: last stdout line is not JSON ({e})\nstdout:\n{stdout}\nstderr:\n{stderr}"
            )
        })
    }

    /// Ends the child by its own pid: SIGTERM first, so that node's
    /// playwright closes the Chromium it launched, then SIGKILL.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test that fails before [`Running::finish`] leaves no client behind.
impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `command` to the end: [`spawn`] then [`Running::finish`].
pub fn run_for_json(command: Command, limit: Duration) -> serde_json::Value {
    spawn(command).finish(limit)
}
