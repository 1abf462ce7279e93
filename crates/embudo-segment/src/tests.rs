use expect_test::expect;

use super::*;

const NOW: Timestamp = Timestamp::from_secs(1_780_000_000);

fn batch(body: &str) -> Parsed {
    parse_body(Endpoint::Batch, body.as_bytes(), NOW).unwrap()
}

fn render(parsed: &Parsed) -> String {
    let mut out = String::new();
    for (index, event) in &parsed.events {
        out += &format!(
            "ok {index} {} {:?} anon={:?} user={:?} at={}\n",
            event.kind.as_str(),
            event.name,
            event.anonymous_id,
            event.user_id,
            event.timestamp
        );
    }
    for rejection in &parsed.rejected {
        out += &format!("rejected {rejection}\n");
    }
    out
}

#[test]
fn a_batch_keeps_the_good_messages_and_reports_each_bad_one() {
    let parsed = batch(
        r#"{"batch": [
            {"type": "track", "event": "Product Viewed", "anonymousId": "a1", "messageId": "m1",
             "timestamp": "2026-05-01T10:00:00Z", "properties": {"product_id": "p1"}},
            {"type": "track", "anonymousId": "a1", "messageId": "m2"},
            {"type": "identify", "userId": 42, "traits": {"email": "ana@example.es"}},
            {"type": "page", "messageId": "m4"},
            {"type": "teleport", "userId": "u"},
            "not an object",
            {"type": "track", "event": "X", "userId": "u", "properties": [1, 2]},
            {"type": "alias", "userId": "u", "messageId": "m8"},
            {"type": "group", "userId": "u"},
            {"type": "track", "event": "X", "userId": "u", "timestamp": "ayer"}
        ]}"#,
    );
    expect![[r#"
        ok 0 track Some("Product Viewed") anon=Some("a1") user=None at=2026-05-01T10:00:00.000Z
        ok 2 identify None anon=None user=Some("42") at=2026-05-28T20:26:40.000Z
        rejected message 1: event: is required for track (the event's name)
        rejected message 3: userId: either userId or anonymousId is required
        rejected message 4: type: "teleport" is not one of identify, track, page, screen, group, alias
        rejected message 5: (message): must be a JSON object
        rejected message 6: properties: must be a JSON object
        rejected message 7: previousId: is required for alias
        rejected message 8: groupId: is required for group
        rejected message 9: timestamp: not a date-time: "ayer" (expected RFC 3339, e.g. 2026-03-02T10:00:00Z)
    "#]]
    .assert_eq(&render(&parsed));
    assert_eq!(parsed.rejected[0].message_id.as_deref(), Some("m2"));
}

#[test]
fn clock_skew_is_corrected_with_sent_at() {
    // The client's clock is one hour behind: it says it sent at 09:00:10 an event of 09:00:00.
    let body = r#"{"event": "Signed Up", "userId": "u1", "timestamp": "2026-05-01T09:00:00Z",
                   "sentAt": "2026-05-01T09:00:10Z"}"#;
    let received = Timestamp::parse("2026-05-01T10:00:10Z").unwrap();
    let parsed = parse_body(
        Endpoint::Single(EventKind::Track),
        body.as_bytes(),
        received,
    )
    .unwrap();
    assert_eq!(
        parsed.events[0].1.timestamp.to_string(),
        "2026-05-01T10:00:00.000Z"
    );

    // Batch-level sentAt applies to messages without their own.
    let body = r#"{"sentAt": "2026-05-01T09:00:10Z", "batch": [
        {"type": "track", "event": "A", "userId": "u", "timestamp": "2026-05-01T09:00:05Z"}]}"#;
    let parsed = parse_body(Endpoint::Batch, body.as_bytes(), received).unwrap();
    assert_eq!(
        parsed.events[0].1.timestamp.to_string(),
        "2026-05-01T10:00:05.000Z"
    );

    // A timestamp in the future is clamped to the time of receipt.
    assert_eq!(
        corrected_timestamp(Some(NOW.plus_millis(5_000)), None, NOW),
        NOW
    );
}

#[test]
fn size_limits_follow_the_spec() {
    let big = format!(
        r#"{{"event": "X", "userId": "u", "properties": {{"pad": "{}"}}}}"#,
        "x".repeat(33_000)
    );
    let err = parse_body(Endpoint::Single(EventKind::Track), big.as_bytes(), NOW).unwrap_err();
    assert_eq!(
        err.to_string(),
        "request body is 33056 bytes; the limit is 32768 bytes"
    );

    let body = format!(r#"{{"batch": [{big}, {{"type": "track", "event": "Y", "userId": "u"}}]}}"#);
    let parsed = batch(&body);
    assert_eq!(parsed.events.len(), 1);
    assert_eq!(
        parsed.rejected[0].to_string(),
        "message 0: (message): message is 33056 bytes; the limit is 32768 bytes"
    );

    let huge = format!(
        r#"{{"batch": [], "pad": "{}"}}"#,
        "x".repeat(MAX_BATCH_BYTES)
    );
    assert!(matches!(
        parse_body(Endpoint::Batch, huge.as_bytes(), NOW),
        Err(BodyError::TooLarge { .. })
    ));
}

#[test]
fn whole_body_errors_are_specific() {
    let err = |endpoint, body: &str| {
        parse_body(endpoint, body.as_bytes(), NOW)
            .unwrap_err()
            .to_string()
    };
    let track = Endpoint::Single(EventKind::Track);
    assert_eq!(err(track, "[1]"), "request body must be a JSON object");
    assert_eq!(
        err(track, "{"),
        "request body is not valid JSON: EOF while parsing an object at line 1 column 1"
    );
    assert_eq!(
        err(Endpoint::Batch, r#"{"messages": []}"#),
        "`batch` must be a list of messages"
    );
    assert_eq!(
        err(track, r#"{"userId": "u"}"#),
        "event: is required for track (the event's name)"
    );
}

#[test]
fn messages_without_id_get_a_stable_derived_one() {
    let body = r#"{"event": "A", "userId": "u"}"#;
    let first = parse_body(Endpoint::Single(EventKind::Track), body.as_bytes(), NOW).unwrap();
    let retry = parse_body(
        Endpoint::Single(EventKind::Track),
        body.as_bytes(),
        NOW.plus_millis(9),
    )
    .unwrap();
    assert_eq!(first.events[0].1.message_id, retry.events[0].1.message_id);
    assert!(first.events[0].1.message_id.starts_with("embudo-"));
}

#[test]
fn page_category_and_write_key_are_read() {
    let body = r#"{"writeKey": "wk", "anonymousId": "a", "name": "Home", "category": "blog",
                   "properties": {"path": "/"}}"#;
    let parsed = parse_body(Endpoint::Single(EventKind::Page), body.as_bytes(), NOW).unwrap();
    assert_eq!(parsed.write_key.as_deref(), Some("wk"));
    assert_eq!(
        parsed.events[0].1.properties.str_field("category"),
        Some("blog")
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = parse_body(Endpoint::Batch, &body, NOW);
        let _ = parse_body(Endpoint::Single(EventKind::Track), &body, NOW);
    }
}
