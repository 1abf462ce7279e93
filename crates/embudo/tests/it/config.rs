//! The config file: one file holds `[server]` and the engine sections, every command reads it,
//! and `embudo config check` / `config default` report on it.

use crate::support::{TestDir, assert_output};

/// A file with both halves: the binary's `[server]` and the engine's sections.
const GOOD: &str = r#"[server]
rate_limit_per_second = 500

[phases.signals]
cart = { weights = [0.0, 2.5, 0.0] }

[[audiences]]
name = "runners"
condition = "has(traits.sport) && traits.sport == 'running'"
fit = 0.8

[pages]
rules = [{ category = "blog", pattern = "/consejos/" }]
"#;

#[test]
fn every_command_reads_the_engine_sections_of_the_config_file() {
    let dir = TestDir::new();
    dir.write("embudo.toml", GOOD);
    let output = dir.run(&["workspace", "list"]);
    assert_output(&output, true, "", "");
    // A typo in an engine section stops any command, and the error says where it is.
    dir.write(
        "embudo.toml",
        "[server]\nrate_limit_per_second = 500\n\n[phases.customer]\nrepurchase_days = 30\n",
    );
    let output = dir.run(&["workspace", "list"]);
    assert_output(
        &output,
        false,
        "",
        "error: embudo.toml:5:1: unknown field `repurchase_days`",
    );
    // The `[server]` section is still the binary's to check.
    dir.write("embudo.toml", "[server]\nlisten_on = \"127.0.0.1:1\"\n");
    let output = dir.run(&["workspace", "list"]);
    assert_output(
        &output,
        false,
        "",
        "error: embudo.toml:2:1: unknown field `listen_on`, expected one of",
    );
}

#[test]
fn config_check_accepts_a_good_file_with_a_summary() {
    let dir = TestDir::new();
    dir.write("shop.toml", GOOD);
    let output = dir.run(&["config", "check", "shop.toml"]);
    assert_output(&output, true, "ok: shop.toml\n", "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().nth(1).unwrap_or_default();
    assert_eq!(
        summary,
        "phases: 1 of 19 signals changed (cart); audiences: 1 (runners); pages: 1 own path rule before the 40 built-in ones; server: listen 127.0.0.1:8080, database sqlite://embudo.db"
    );
    // Without FILE: the file in effect, `--config` …
    let output = dir.run(&["--config", "shop.toml", "config", "check"]);
    assert_output(&output, true, "ok: shop.toml\n", "");
    // … else `embudo.toml`, else nothing to check.
    let output = dir.run(&["config", "check"]);
    assert_output(&output, false, "", "no config file to check");
    dir.write("embudo.toml", GOOD);
    let output = dir.run(&["config", "check"]);
    assert_output(&output, true, "ok: embudo.toml\n", "");
}

#[test]
fn config_check_names_the_file_and_line_of_an_error() {
    let dir = TestDir::new();
    dir.write(
        "shop.toml",
        "[phases.signals]\ncart = { weights = [0.0, 2.0, 0.0] }\ncheckout = { half_life_days = -3.0 }\n",
    );
    let output = dir.run(&["config", "check", "shop.toml"]);
    assert_output(
        &output,
        false,
        "",
        "error: shop.toml:3:31: phases.signals.checkout.half_life_days must be positive, got -3",
    );
    assert!(output.stdout.is_empty());
    // A bad `[server]` value is an error of the file too.
    dir.write("server.toml", "[server]\nlisten = \"nowhere\"\n");
    let output = dir.run(&["config", "check", "server.toml"]);
    assert_output(
        &output,
        false,
        "",
        "server.toml: [server]: listen address \"nowhere\" is not HOST:PORT",
    );
    // A missing file.
    let output = dir.run(&["config", "check", "missing.toml"]);
    assert_output(&output, false, "", "failed to read missing.toml");
}

#[test]
fn config_default_round_trips_through_config_check() {
    let dir = TestDir::new();
    // Even with a broken file in effect: `config default` reads no file.
    dir.write("embudo.toml", "[phases\n");
    let output = dir.run(&["config", "default"]);
    assert_output(&output, true, "[phases.signals]", "");
    dir.write("embudo.toml", &String::from_utf8(output.stdout).unwrap());
    let output = dir.run(&["config", "check"]);
    assert_output(
        &output,
        true,
        "ok: embudo.toml\nphases: the defaults; audiences: 3 (compradores, suscriptores, visitantes_recurrentes); pages: the built-in path rules\n",
        "",
    );
}
