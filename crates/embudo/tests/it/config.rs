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
    assert_output(&output, false, "", "unknown field `listen_on`");
}
