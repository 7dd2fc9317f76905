//! How records are cut into the replicated trail's messages and put back together.
//!
//! A message carries whole records, at most [`CHUNK`] bytes of them. A record longer than
//! that (the observations of a graph of thousands of services, a long comment of a person)
//! is cut into parts, each a message of its own: kept whole, it would be larger than the
//! server takes, and the leader, which waits until the trail holds what it decided, would
//! wait for good.

use super::MirrorError;

/// Most bytes of records in one message: well under the server's default 1 MiB payload.
pub(super) const CHUNK: usize = 256 * 1024;
/// The seq of a message's first record, and of the record after its last.
const FIRST: &str = "Arbiter-First-Seq";
const NEXT: &str = "Arbiter-Next-Seq";
/// On a part of a record: where in the record the part begins.
const PART: &str = "Arbiter-Part";

/// Where a message stands in the chain: records `first` to `next - 1` whole, or, with
/// `part`, the bytes of record `first` from `part` on (`next` is `first` until its last part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub first: u64,
    pub next: u64,
    pub part: Option<u64>,
}

impl Span {
    /// The span a message's headers declare; `sequence` names the message in errors.
    pub fn of(headers: &async_nats::HeaderMap, sequence: u64) -> Result<Span, MirrorError> {
        let read = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.as_str().parse::<u64>().ok())
                .ok_or_else(|| {
                    MirrorError::Diverged(format!(
                        "message {sequence} of the replicated trail has no `{name}` header: \
                         something other than an arbiter wrote to `{}`",
                        crate::bus::AUDIT
                    ))
                })
        };
        let part = match headers.get(PART) {
            None => None,
            Some(_) => Some(read(PART)?),
        };
        Ok(Span {
            first: read(FIRST)?,
            next: read(NEXT)?,
            part,
        })
    }

    pub fn headers(&self, into: &mut async_nats::HeaderMap) {
        into.insert(FIRST, self.first.to_string().as_str());
        into.insert(NEXT, self.next.to_string().as_str());
        if let Some(at) = self.part {
            into.insert(PART, at.to_string().as_str());
        }
    }

    /// A part that does not end its record.
    pub fn unfinished(&self) -> bool {
        self.part.is_some() && self.next == self.first
    }
}

/// One message to append: its span, its text and its id.
#[derive(Debug, PartialEq)]
pub(super) struct Piece<'a> {
    pub span: Span,
    pub text: &'a str,
    pub id: String,
}

impl Piece<'_> {
    /// Of a part: which record it belongs to, as its id names it (the id without the part's
    /// place).
    pub fn record(&self) -> Option<&str> {
        self.span.part?;
        self.id.rsplit_once('+').map(|(record, _)| record)
    }
}

/// The records of `text` (one per line, the first numbered `first`) in messages of at most
/// [`CHUNK`] bytes; a longer record is cut into parts of its own.
pub(super) fn pieces(text: &str, first: u64) -> Vec<Piece<'_>> {
    let whole = |from: u64, to: u64, text| Piece {
        span: Span {
            first: from,
            next: to,
            part: None,
        },
        id: message_id(from, text),
        text,
    };
    let mut out = Vec::new();
    let (mut start, mut from, mut seq, mut at) = (0usize, first, first, 0usize);
    for line in text.split_inclusive('\n') {
        if at > start && at + line.len() - start > CHUNK {
            out.push(whole(from, seq, &text[start..at]));
            start = at;
            from = seq;
        }
        if line.len() > CHUNK {
            out.extend(parts_of(line, seq));
            start = at + line.len();
            from = seq + 1;
        }
        at += line.len();
        seq += 1;
    }
    if at > start {
        out.push(whole(from, seq, &text[start..at]));
    }
    out
}

/// A record longer than a message, in parts of at most [`CHUNK`] bytes cut between
/// characters. Each part's id names the record's seq, the part's place and the record's
/// hash: two writers' versions of one record never share an id, even where their parts'
/// bytes are the same.
fn parts_of(line: &str, seq: u64) -> Vec<Piece<'_>> {
    let hash = message_id(seq, line);
    let mut out = Vec::new();
    let mut at = 0;
    while at < line.len() {
        let mut end = (at + CHUNK).min(line.len());
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let last = end == line.len();
        out.push(Piece {
            span: Span {
                first: seq,
                next: if last { seq + 1 } else { seq },
                part: Some(at as u64),
            },
            text: &line[at..end],
            id: format!("{hash}+{at}"),
        });
        at = end;
    }
    out
}

/// A message's id: its first record's seq and its last record's hash, which covers every
/// record before it — so two writers' messages never share an id, and no second hash of the
/// text is needed. (A text without a readable hash field is hashed whole.)
pub(super) fn message_id(from: u64, text: &str) -> String {
    let last = text
        .trim_end_matches('\n')
        .rsplit('\n')
        .next()
        .unwrap_or("");
    let hash = last
        .find("\"hash\":\"")
        .and_then(|i| last.get(i + 8..i + 24))
        .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    match hash {
        Some(h) => format!("{from}-{h}"),
        None => format!(
            "{from}-{}",
            &crate::hash::sha256_parts(&[text.as_bytes()])[7..23]
        ),
    }
}

/// Puts the parts of a long record back together as its messages are read in order. A
/// record left unfinished — its writer lost the lease midway, and the next leader wrote the
/// record again from its start — is dropped when that new start arrives.
#[derive(Clone, Debug, Default)]
pub(super) struct Joiner {
    /// The record being put together: its seq and the bytes read so far.
    open: Option<(u64, String)>,
}

impl Joiner {
    /// The text of whole records `text` (the message `sequence`, spanning `span`) completes:
    /// the message itself when it carries whole records, a record when this is its last part,
    /// nothing while a record is still unfinished.
    pub fn take(
        &mut self,
        span: Span,
        sequence: u64,
        text: &str,
    ) -> Result<Option<String>, MirrorError> {
        let Some(at) = span.part else {
            self.open = None;
            return Ok(Some(text.to_string()));
        };
        if at == 0 {
            self.open = Some((span.first, String::new()));
        }
        let Some((seq, so_far)) = self.open.as_mut() else {
            return Err(out_of_place(
                sequence,
                span,
                "its record's start was not read",
            ));
        };
        if *seq != span.first || so_far.len() as u64 != at {
            return Err(out_of_place(
                sequence,
                span,
                &format!("{} bytes of record {seq} were read", so_far.len()),
            ));
        }
        so_far.push_str(text);
        if span.unfinished() {
            return Ok(None);
        }
        Ok(self.open.take().map(|(_, whole)| whole))
    }

    /// Whether a record is being put together.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    pub fn clear(&mut self) {
        self.open = None;
    }
}

fn out_of_place(sequence: u64, span: Span, why: &str) -> MirrorError {
    MirrorError::Diverged(format!(
        "message {sequence} of the replicated trail is a part of record {} from byte {}, but {why}",
        span.first,
        span.part.unwrap_or(0)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_known_by_its_first_seq_and_its_last_record_hash() {
        let a = format!(
            "{{\"seq\":1,\"prev\":\"{}\",\"hash\":\"{}\"}}\n",
            "0".repeat(64),
            "a1".repeat(32)
        );
        let b = format!(
            "{{\"seq\":2,\"prev\":\"{}\",\"hash\":\"{}\"}}\n",
            "a1".repeat(32),
            "b2".repeat(32)
        );
        assert_eq!(
            message_id(1, &format!("{a}{b}")),
            format!("1-{}", "b2".repeat(8))
        );
        assert_eq!(message_id(1, &a), format!("1-{}", "a1".repeat(8)));
        // Another writer's records from the same seq differ in their hash.
        assert_ne!(message_id(2, &b), message_id(2, &b.replace("b2", "c3")));
        // Without a hash field the text is hashed: still one id per text.
        let plain = message_id(5, "not a record\n");
        assert!(plain.starts_with("5-") && plain.len() == 18, "{plain}");
        assert_ne!(plain, message_id(5, "another\n"));
    }

    fn spans(pieces: &[Piece]) -> Vec<(u64, u64, Option<u64>)> {
        pieces
            .iter()
            .map(|p| (p.span.first, p.span.next, p.span.part))
            .collect()
    }

    #[test]
    fn records_are_cut_into_messages_at_line_ends_and_numbered() {
        let line = format!("{}\n", "x".repeat(CHUNK / 3));
        let text = line.repeat(7);
        let parts = pieces(&text, 10);
        assert_eq!(
            spans(&parts),
            [
                (10, 12, None),
                (12, 14, None),
                (14, 16, None),
                (16, 17, None)
            ]
        );
        assert!(parts.iter().all(|p| p.text.ends_with('\n')));
        assert_eq!(parts.iter().map(|p| p.text).collect::<String>(), text);
        assert!(pieces("", 5).is_empty());
    }

    #[test]
    fn a_record_longer_than_a_message_goes_in_parts_that_join_again() {
        let record = |seq: u64, hash: &str, fill: &str| {
            format!(
                "{{\"seq\":{seq},\"hash\":\"{}\",\"x\":\"{}\"}}\n",
                hash.repeat(32),
                fill.repeat(CHUNK * 2 + 7)
            )
        };
        // A character of two bytes on every boundary: parts are cut between characters.
        let long = record(2, "ab", "é");
        let text = format!("a\n{long}b\n");
        let parts = pieces(&text, 1);
        let mut expected = vec![(1, 2, None)];
        let mut at = 0;
        for n in 0..5 {
            let next = if n == 4 { 3 } else { 2 };
            expected.push((2, next, Some(at as u64)));
            at += parts[1 + n].text.len();
        }
        expected.push((3, 4, None));
        assert_eq!(spans(&parts), expected);
        assert_eq!(at, long.len());
        // Cut as late as a character allows.
        assert!(parts[1..5].iter().all(|p| p.text.len() >= CHUNK - 1));
        assert!(parts.iter().all(|p| p.text.len() <= CHUNK));
        assert_eq!(parts.iter().map(|p| p.text).collect::<String>(), text);
        // Ids: one per part, and another writer's record 2 has others.
        let ids: std::collections::HashSet<_> = parts.iter().map(|p| p.id.clone()).collect();
        assert_eq!(ids.len(), parts.len());
        let their_long = record(2, "cd", "é");
        let theirs = pieces(&their_long, 2);
        assert!(theirs.iter().all(|p| !ids.contains(&p.id)));

        // Read back in order, the parts give the record whole, once.
        let mut joiner = Joiner::default();
        let mut read = String::new();
        for (n, p) in parts.iter().enumerate() {
            let whole = joiner.take(p.span, n as u64 + 1, p.text).unwrap();
            assert_eq!(whole.is_none(), p.span.unfinished());
            read.push_str(&whole.unwrap_or_default());
        }
        assert_eq!(read, text);
        assert!(!joiner.is_open());

        // A writer deposed midway left two parts; the next wrote the record again.
        let mut joiner = Joiner::default();
        for p in &theirs[..2] {
            assert_eq!(joiner.take(p.span, 1, p.text).unwrap(), None);
        }
        let mut again = String::new();
        for p in &parts[1..6] {
            again.push_str(&joiner.take(p.span, 9, p.text).unwrap().unwrap_or_default());
        }
        assert_eq!(again, long);
        // A part whose start was never read, or out of order, is an error, not a record.
        let mut joiner = Joiner::default();
        let e = joiner.take(parts[2].span, 7, parts[2].text).unwrap_err();
        assert!(e.to_string().contains("message 7"), "{e}");
        joiner.take(parts[1].span, 8, parts[1].text).unwrap();
        assert!(joiner.take(parts[3].span, 9, parts[3].text).is_err());
    }
}
