//! A proposal's payload as the audit trail keeps it: the evidence of who asked for what, in
//! the agent's own bytes.
//!
//! Kept as raw JSON text rather than parsed: the decision loop no longer builds a JSON tree
//! for every proposal only to write it out again, and reading the trail back (restore, replay,
//! verify) copies the text instead of rebuilding the tree. The record's hash covers exactly
//! these bytes.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// How much of a payload that is not JSON is kept, in characters.
const NOT_JSON_KEPT: usize = 4096;

/// The deepest nesting kept as JSON. A proposal is four levels deep; the JSON reader refuses
/// beyond 128 levels counted from the record's top, and a record that cannot be read back
/// would stop the service from restarting.
const MAX_DEPTH: usize = 64;

/// How deeply arrays and objects nest in `text` (brackets inside strings do not count).
fn depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct Payload(Box<RawValue>);

/// Read back inside a record, the payload reaches the reader re-buffered (the record's `kind`
/// tag is read first), so its text is rebuilt from its value. The chain is checked over the
/// lines as written, not over this text.
impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Payload::of(&serde_json::Value::deserialize(d)?))
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// JSON `null`: what a payload is before it is known, and after it has been moved out.
impl Default for Payload {
    fn default() -> Self {
        Payload::of(&serde_json::Value::Null)
    }
}

impl Payload {
    /// From the bytes as received. JSON on one line is kept byte for byte (blanks around it
    /// aside); JSON spread over several lines is compacted (a record is one line); anything
    /// else — and a payload larger than a proposal may be, refused as `too_large` — is kept
    /// as a JSON string of its text, cut to 4 096 characters, so the record still shows what
    /// arrived. (Kept whole, a payload near the bus's own limit would make a record the
    /// replicated trail cannot take, and the service would wait on it for good.)
    pub fn received(bytes: &[u8]) -> Payload {
        if bytes.len() > crate::contract::MAX_PAYLOAD_BYTES {
            // Cut below, as text.
        } else if let Ok(text) = std::str::from_utf8(bytes) {
            if depth(text) > MAX_DEPTH {
                // Kept as text: nested deeper than a record may be to be read back.
            } else if !text.contains(['\n', '\r']) {
                if let Ok(raw) = RawValue::from_string(text.trim().to_string()) {
                    return Payload(raw);
                }
            } else if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
                return Payload::of(&v);
            }
        }
        let text: String = String::from_utf8_lossy(bytes)
            .chars()
            .take(NOT_JSON_KEPT)
            .collect();
        Payload::of(&serde_json::Value::String(text))
    }

    pub fn of(v: &serde_json::Value) -> Payload {
        Payload(RawValue::from_string(v.to_string()).expect("a JSON value serialises to JSON"))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The bytes the agent sent: the text of a payload kept as a string because it was not
    /// JSON, else the JSON itself.
    pub fn bytes(&self) -> Vec<u8> {
        match serde_json::from_str::<String>(self.get()) {
            Ok(text) => text.into_bytes(),
            Err(_) => self.get().as_bytes().to_vec(),
        }
    }

    /// As a JSON tree, for the readers that look inside (`null` if the tree is too deep to
    /// build, which a payload kept by [`Payload::received`] never is).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.get()).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::Payload;

    #[test]
    fn json_on_one_line_is_kept_byte_for_byte() {
        let sent = br#"{"v":1, "id":"x",  "confidence":0.90,"id":"dup"}"#;
        let p = Payload::received(sent);
        assert_eq!(p.get().as_bytes(), sent);
        assert_eq!(p.bytes(), sent);
        assert_eq!(serde_json::to_string(&p).unwrap().as_bytes(), sent);
    }

    #[test]
    fn json_over_several_lines_is_put_on_one() {
        let p = Payload::received(b"{\n  \"v\": 1,\r\n  \"id\": \"x\"\n}\n");
        assert!(!p.get().contains(['\n', '\r']), "{}", p.get());
        assert_eq!(p.value(), serde_json::json!({"v": 1, "id": "x"}));
    }

    #[test]
    fn what_is_not_json_is_kept_as_bounded_text() {
        let p = Payload::received(b"not json\n\"at all");
        assert_eq!(p.value(), serde_json::json!("not json\n\"at all"));
        assert_eq!(p.bytes(), b"not json\n\"at all");
        assert!(!p.get().contains('\n'));
        let p = Payload::received(&[0xff, b'{', b'}']);
        assert_eq!(p.value(), serde_json::json!("\u{fffd}{}"));
        let long = vec![b'a'; 10_000];
        assert_eq!(
            Payload::received(&long).value().as_str().unwrap().len(),
            4096
        );
        // Nesting deeper than a record may hold is kept as text; brackets in strings do not
        // count.
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(Payload::received(deep.as_bytes()).value().is_string());
        let fine = format!(
            "{}\"{}\"{}",
            "[".repeat(64),
            "[".repeat(100),
            "]".repeat(64)
        );
        assert!(Payload::received(fine.as_bytes()).value().is_array());
    }

    #[test]
    fn json_larger_than_a_proposal_may_be_is_kept_as_bounded_text() {
        let limit = crate::contract::MAX_PAYLOAD_BYTES;
        let padded = |n: usize| format!("{{\"id\":\"big\",\"pad\":\"{}\"}}", "x".repeat(n));
        let at_limit = padded(limit - 21);
        assert_eq!(at_limit.len(), limit);
        assert_eq!(Payload::received(at_limit.as_bytes()).get(), at_limit);
        let over = padded(1_000_000);
        let kept = Payload::received(over.as_bytes());
        assert_eq!(kept.value().as_str().unwrap(), &over[..4096]);
        assert!(kept.get().len() < 5000);
    }
}
