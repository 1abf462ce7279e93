use embudo_core::{Event, EventKind, Timestamp, Value};

use crate::{StoreError, validate_event};

fn event(message_id: &str) -> Event {
    Event {
        message_id: message_id.to_owned(),
        kind: EventKind::Track,
        name: Some("Product Viewed".into()),
        anonymous_id: Some("a1".into()),
        user_id: None,
        previous_id: None,
        group_id: None,
        timestamp: Timestamp::from_secs(1),
        received_at: Timestamp::from_secs(2),
        properties: Value::Map(Default::default()),
        traits: Value::Map(Default::default()),
        context: Value::Map(Default::default()),
    }
}

#[test]
fn validation_names_the_field() {
    assert!(validate_event(&event("m1")).is_ok());
    let empty = validate_event(&event("")).unwrap_err();
    assert_eq!(empty.to_string(), "invalid data: messageId is empty");
    let mut nul = event("m1");
    nul.user_id = Some("u\0".into());
    let error = validate_event(&nul).unwrap_err();
    assert!(matches!(error, StoreError::Invalid(_)));
    assert_eq!(
        error.to_string(),
        "invalid data: userId contains a NUL character"
    );
    let long = validate_event(&event(&"x".repeat(crate::MAX_ID_LEN + 1))).unwrap_err();
    assert_eq!(
        long.to_string(),
        "invalid data: messageId is longer than 512 bytes"
    );
}
