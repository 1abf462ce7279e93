//! What the store refuses to hold, checked the same way by every adapter.

use embudo_core::Event;

use crate::error::StoreError;

/// The longest message id, user id, anonymous id, … the store accepts (in bytes).
pub const MAX_ID_LEN: usize = 512;

/// Checks that an event can be stored: a non-empty message id, identifiers and names at most
/// [`MAX_ID_LEN`] bytes, and no NUL character in any of them (PostgreSQL cannot store one in
/// text). The error names the field.
pub fn validate_event(event: &Event) -> Result<(), StoreError> {
    if event.message_id.is_empty() {
        return Err(StoreError::Invalid("messageId is empty".to_owned()));
    }
    let fields = [
        ("messageId", Some(event.message_id.as_str())),
        ("event", event.name.as_deref()),
        ("anonymousId", event.anonymous_id.as_deref()),
        ("userId", event.user_id.as_deref()),
        ("previousId", event.previous_id.as_deref()),
        ("groupId", event.group_id.as_deref()),
    ];
    for (field, text) in fields {
        let Some(text) = text else { continue };
        if text.len() > MAX_ID_LEN {
            return Err(StoreError::Invalid(format!(
                "{field} is longer than {MAX_ID_LEN} bytes"
            )));
        }
        if text.contains('\0') {
            return Err(StoreError::Invalid(format!(
                "{field} contains a NUL character"
            )));
        }
    }
    Ok(())
}
