//! `embudo classify` after `import` and `process`, and proof that the config file's page rules
//! and weights reach the classification.

use crate::support::{TestDir, assert_output};

/// A shopper who looks at three running shoes and puts one in the cart (no timestamps: the
/// events happen when imported, so nothing has decayed when `classify` runs).
const SHOPPER: &str = r#"{"type":"identify","messageId":"m1","userId":"u1","traits":{"email":"ana@example.es"}}
{"type":"track","messageId":"m2","userId":"u1","event":"Product Viewed","properties":{"product_id":"p1","category":"zapatillas"}}
{"type":"track","messageId":"m3","userId":"u1","event":"Product Viewed","properties":{"product_id":"p2","category":"zapatillas"}}
{"type":"track","messageId":"m4","userId":"u1","event":"Product Viewed","properties":{"product_id":"p3","category":"zapatillas"}}
{"type":"track","messageId":"m5","userId":"u1","event":"Product Added","properties":{"product_id":"p3","price":80}}
"#;

/// A reader of three pages under `/consejos/`, which the built-in rules do not know.
const READER: &str = r#"{"type":"page","messageId":"r1","anonymousId":"a2","properties":{"path":"/consejos/correr"}}
{"type":"page","messageId":"r2","anonymousId":"a2","properties":{"path":"/consejos/zapatillas"}}
{"type":"page","messageId":"r3","anonymousId":"a2","properties":{"path":"/consejos/talla"}}
"#;

/// Creates workspace "tienda", imports `events` (Segment JSON lines) and processes the log.
fn import_and_process(dir: &TestDir, events: &str) {
    assert_output(&dir.run(&["workspace", "create", "tienda"]), true, "", "");
    dir.write("events.jsonl", events);
    let output = dir.run(&[
        "import",
        "--workspace",
        "tienda",
        "events.jsonl",
        "--format",
        "segment",
        "--no-process",
    ]);
    assert_output(&output, true, "rejected rows:   0", "");
    assert_output(&dir.run(&["process"]), true, "processed", "");
}

#[test]
fn classify_prints_the_phase_and_its_evidence() {
    let dir = TestDir::new();
    import_and_process(&dir, SHOPPER);
    let output = dir.run(&["classify", "--workspace", "tienda", "--user-id", "u1"]);
    assert_output(&output, true, "phase:      II, fase II (consideración", "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        "P(I) 0.",
        "confidence: 0.",
        "customer:   -",
        "stage:      explorar",
        "since:      20",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from\n{stdout}");
    }
    assert!(!stdout.contains("evidence:"), "{stdout}");
    let output = dir.run(&[
        "classify",
        "-w",
        "tienda",
        "--email",
        "Ana@Example.es",
        "--explain",
    ]);
    assert_output(
        &output,
        true,
        "toward II   vio 3 productos de la misma categoría (zapatillas) en 1 día\n",
        "",
    );
    let output = dir.run(&[
        "classify",
        "-w",
        "tienda",
        "--user-id",
        "u1",
        "--explain",
        "--json",
        "--lang",
        "en",
    ]);
    assert_output(&output, true, "", "");
    let view: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(view["phase"], "II");
    assert_eq!(view["stage"], "explore");
    let p = &view["probabilities"];
    let total: f64 = ["I", "II", "III"]
        .iter()
        .map(|k| p[*k].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-9, "{p}");
    let evidence = view["evidence"].as_array().unwrap();
    assert!(
        evidence.iter().any(|line| line["signal"] == "cart"
            && line["text"]
                .as_str()
                .unwrap()
                .starts_with("added to or viewed the cart 1 time")),
        "{evidence:?}"
    );
    // Nobody by that name.
    let output = dir.run(&["classify", "-w", "tienda", "--anonymous-id", "ghost"]);
    assert_output(&output, false, "", "no profile for anonymous id \"ghost\"");
}

#[test]
fn a_page_rule_in_the_config_file_changes_the_classification() {
    // Built-in rules: `/consejos/` is some other page, which weighs nothing; the prior wins.
    let plain = TestDir::new();
    import_and_process(&plain, READER);
    let output = plain.run(&[
        "classify",
        "-w",
        "tienda",
        "--anonymous-id",
        "a2",
        "--explain",
    ]);
    assert_output(&output, true, "phase:      I,", "");
    assert_output(&output, true, "visitó 3 otras páginas", "");
    // The shop says `/consejos/` are its price guides: the same events now read as phase II.
    // The rule applies when the log is processed, so `import` and `process` read the file.
    let shop = TestDir::new();
    shop.write(
        "embudo.toml",
        "[pages]\nrules = [{ category = \"pricing\", pattern = \"/consejos/\" }]\n",
    );
    import_and_process(&shop, READER);
    let output = shop.run(&[
        "classify",
        "-w",
        "tienda",
        "--anonymous-id",
        "a2",
        "--explain",
    ]);
    assert_output(&output, true, "phase:      II,", "");
    assert_output(&output, true, "toward II   comparó precios 3 veces", "");
}

#[test]
fn a_weight_in_the_config_file_changes_the_classification() {
    let dir = TestDir::new();
    import_and_process(&dir, SHOPPER);
    let output = dir.run(&["classify", "-w", "tienda", "--user-id", "u1"]);
    assert_output(&output, true, "phase:      II,", "");
    // The same stored profile, evaluated with a model where browsing and the cart point to
    // phase I: the model is read at evaluation time, from the file in effect.
    dir.write(
        "odd.toml",
        "[phases.signals]\ncart = { weights = [3.0, 0.0, 0.0] }\nbrowse = { weights = [1.0, 0.0, 0.0] }\nfocused_views = { weights = [1.0, 0.0, 0.0] }\n",
    );
    let output = dir.run(&[
        "--config",
        "odd.toml",
        "classify",
        "-w",
        "tienda",
        "--user-id",
        "u1",
        "--explain",
    ]);
    assert_output(&output, true, "phase:      I,", "");
    assert_output(&output, true, "toward I    añadió productos al carrito", "");
}
