//! Running the built binary in a temporary directory.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};

/// A temporary working directory with its own SQLite database.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("embudo.db").display())
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    // The tests start the binary under test; nothing else runs subprocesses.
    #[allow(clippy::disallowed_methods)]
    pub fn command(&self, args: &[&str]) -> std::process::Command {
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

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Starts `embudo serve` on a free port and returns it with its base URL.
    pub fn serve(&self) -> (Child, String) {
        let mut child = self
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines
                .next()
                .expect("serve exited before listening")
                .unwrap();
            if let Some(rest) = line.strip_prefix("embudo listening on ") {
                let url = rest.split_whitespace().next().unwrap().to_owned();
                // Keep draining stdout so the child never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                return (child, url);
            }
        }
    }
}

/// Asserts with a readable expected/got block.
#[track_caller]
pub fn assert_output(output: &Output, success: bool, stdout_contains: &str, stderr_contains: &str) {
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
