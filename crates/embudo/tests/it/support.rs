//! Running the built binary in a temporary directory.

use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};

/// A temporary working directory with its own SQLite database.
pub(crate) struct TestDir {
    pub(crate) dir: tempfile::TempDir,
}

impl TestDir {
    pub(crate) fn new() -> TestDir {
        TestDir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes a file in the directory; `name` is relative to it.
    pub(crate) fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.dir.path().join(name), contents).unwrap();
    }

    pub(crate) fn database_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("embudo.db").display())
    }

    // The tests start the binary under test; nothing else runs subprocesses.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_embudo"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("EMBUDO_DATABASE_URL", self.database_url())
            .env_remove("EMBUDO_LISTEN")
            .env_remove("EMBUDO_CONFIG")
            .env("RUST_LOG", "warn");
        command
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Starts `embudo serve` on a free port; returns once it is listening.
    pub(crate) fn serve(&self) -> Server {
        let child = self
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // From here on the process has an owner that kills and reaps it, even on a panic.
        let mut server = Server {
            child,
            url: String::new(),
        };
        let stdout = server.child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines
                .next()
                .expect("serve exited before listening")
                .unwrap();
            if let Some(rest) = line.strip_prefix("embudo listening on ") {
                server.url = rest.split_whitespace().next().unwrap().to_owned();
                // Keep draining stdout so the child never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                return server;
            }
        }
    }
}

/// A running `embudo serve`; killed (SIGKILL) and reaped when dropped.
pub(crate) struct Server {
    child: Child,
    /// The base URL, `http://127.0.0.1:PORT`.
    pub(crate) url: String,
}

impl Server {
    /// SIGKILL on Unix: no shutdown, no flush.
    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts with a readable expected/got block.
#[track_caller]
pub(crate) fn assert_output(
    output: &Output,
    success: bool,
    stdout_contains: &str,
    stderr_contains: &str,
) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let ok = output.status.success() == success
        && stdout.contains(stdout_contains)
        && stderr.contains(stderr_contains);
    assert!(
        ok,
        "\nexpected: success={success}, stdout containing {stdout_contains:?}, stderr containing {stderr_contains:?}\n\
         got: status={}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n",
        output.status
    );
}
