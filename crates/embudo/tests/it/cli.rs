use crate::support::{TestDir, assert_output};

#[test]
fn workspace_create_prints_keys_as_json() {
    let dir = TestDir::new();
    let output = dir.run(&["workspace", "create", "Zapatería Ana", "--json"]);
    assert_output(&output, true, "write_key", "");
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(created["write_key"].as_str().unwrap().starts_with("wk_"));
    assert!(created["admin_token"].as_str().unwrap().starts_with("at_"));
    assert_eq!(created["name"], "Zapatería Ana");
    let listed = dir.run(&["workspace", "list"]);
    assert_output(&listed, true, "Zapatería Ana", "");
    // Names are unique.
    let again = dir.run(&["workspace", "create", "Zapatería Ana"]);
    assert_output(
        &again,
        false,
        "",
        "failed to create workspace \"Zapatería Ana\"",
    );
}

#[test]
fn bad_settings_get_clear_errors() {
    let dir = TestDir::new();
    let output = dir
        .command(&["workspace", "list"])
        .env("EMBUDO_DATABASE_URL", "mysql://x")
        .output()
        .unwrap();
    assert_output(&output, false, "", "unsupported database url \"mysql://x\"");
    let output = dir.run(&["serve", "--listen", "nowhere"]);
    assert_output(
        &output,
        false,
        "",
        "listen address \"nowhere\" is not HOST:PORT",
    );
    let output = dir.run(&["import", "--workspace", "ghost", "missing.csv"]);
    assert_output(&output, false, "", "no workspace named \"ghost\"");
}

#[test]
fn first_serve_creates_the_default_workspace_and_answers_health() {
    let dir = TestDir::new();
    let mut server = dir.serve();
    let url = server.url.clone();
    let health = reqwest::blocking_get(&format!("{url}/healthz"));
    server.kill();
    assert_eq!(health, "ok");
    let listed = dir.run(&["workspace", "list"]);
    assert_output(&listed, true, "default", "");
}

mod reqwest {
    /// A GET from a fresh current-thread runtime (the tests are synchronous).
    pub(crate) fn blocking_get(url: &str) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async { ::reqwest::get(url).await.unwrap().text().await.unwrap() })
    }
}
