//! Segment JSON lines: one message per line, its `type` says which call it is.
//!
//! A message without `messageId` gets the id `embudo-segment` derives from its bytes, so a
//! line repeated verbatim is one message (as a retried Segment message is).

use embudo_core::Timestamp;

use crate::{Issue, Output};

/// Converts one line (blank lines are ignored).
pub(crate) fn line(line_number: u64, line: &[u8], received_at: Timestamp, out: &mut Output) {
    let line = line.trim_ascii();
    if line.is_empty() {
        return;
    }
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(err) => {
            out.rejected.push(Issue {
                line: line_number,
                raw: String::from_utf8_lossy(line).into_owned(),
                field: "(message)".to_owned(),
                reason: format!("not valid UTF-8: {err}"),
            });
            return;
        }
    };
    match embudo_segment::parse_line(text, received_at) {
        Ok(event) => out.push_event(event, line_number, || text.to_owned()),
        Err(rejection) => out.rejected.push(Issue {
            line: line_number,
            raw: text.to_owned(),
            field: rejection.field,
            reason: rejection.reason,
        }),
    }
}
