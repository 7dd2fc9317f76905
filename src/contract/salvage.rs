//! Reading a sender's identity out of a payload that is not valid JSON, so that its refusal
//! can still name the proposal it refuses.
//!
//! Agents send numbers JSON cannot carry (`1e309`, `NaN`), stray commas, cut-off payloads; the
//! strict parser rejects them whole. An answer with an empty `proposal_id` cannot be matched
//! to what was sent, so the top-level string fields of the object are read here by a scan
//! that stops at the first thing it cannot read, instead of giving up on the payload.

/// The value of a top-level string field of a JSON-like object, read up to the first
/// unreadable point. Nested objects and arrays are skipped.
pub fn top_level_string(text: &str, key: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (name, next) = string(text, i)?;
        i = skip_ws(b, next);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if b.get(i) == Some(&b'"') {
            let (value, next) = string(text, i)?;
            if name == key {
                return Some(value);
            }
            i = next;
        } else {
            i = skip_value(b, i)?;
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// A string literal starting at `b[i] == '"'`: its text (through JSON's own unescaping)
/// and the index after its closing quote.
fn string(text: &str, i: usize) -> Option<(String, usize)> {
    let b = text.as_bytes();
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => {
                let value = serde_json::from_str::<String>(&text[i..=j]).ok()?;
                return Some((value, j + 1));
            }
            _ => j += 1,
        }
    }
    None
}

/// Skips a value that is not a string: a nested object or array (brackets counted outside
/// strings), or a bare token such as a number, `true` or `NaN`.
fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'"' if depth > 0 => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b',' | b'}' if depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::top_level_string;

    #[test]
    fn reads_identity_past_values_json_cannot_hold() {
        let t = r#"{"v":1,"action":{"kind":"scale","id":"inner"},"confidence":1e309,"id":"p-7","agent":"a\u0031"}"#;
        assert_eq!(top_level_string(t, "id").as_deref(), Some("p-7"));
        assert_eq!(top_level_string(t, "agent").as_deref(), Some("a1"));
        let t = r#"{"confidence": NaN, "tags": ["x,}", {"id": "no"}], "id": "p-8"}"#;
        assert_eq!(top_level_string(t, "id").as_deref(), Some("p-8"));
    }

    #[test]
    fn stops_at_what_it_cannot_read() {
        assert_eq!(
            top_level_string(r#"{"id": "p-1""#, "id").as_deref(),
            Some("p-1")
        );
        assert_eq!(top_level_string(r#"{"a": 1 "id": "p-1"}"#, "id"), None);
        assert_eq!(top_level_string(r#"["id", "p-1"]"#, "id"), None);
        assert_eq!(top_level_string(r#"{"id": "unterminated"#, "id"), None);
        assert_eq!(top_level_string("", "id"), None);
    }
}
