//! The audit trail replicated over the NATS cluster (`arbiter serve --replica`).
//!
//! Every record the leader writes goes first to the JetStream stream `ARBITER_AUDIT`, then
//! to its own file; a standby reads the stream into its own file, byte for byte, so each
//! replica holds the same chain and the one that takes over restarts from its own disk.
//! Each append names the stream sequence it follows (`Nats-Expected-Last-Sequence`): the
//! stream takes an append only from a writer that has seen everything before it, so a
//! replica that lost the lease — and whose successor wrote since — cannot extend the chain,
//! and what it cannot record it never publishes.

use crate::audit::{AuditError, AuditLog, Prepared, Record};
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use futures_util::StreamExt;

pub const AUDIT_STREAM: &str = "ARBITER_AUDIT";

/// Most bytes of records in one message: well under the server's default 1 MiB payload.
const CHUNK: usize = 256 * 1024;
/// The seq of a message's first record, and of the record after its last.
const FIRST: &str = "Arbiter-First-Seq";
const NEXT: &str = "Arbiter-Next-Seq";
/// Most bytes of messages read before they are written to the file with one flush.
const CATCH_UP_BATCH: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("another replica extended the replicated audit trail: {0}")]
    Deposed(String),
    #[error("the replicated audit trail cannot be reached: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Diverged(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

fn unavailable<E: std::fmt::Display>(e: E) -> MirrorError {
    MirrorError::Unavailable(e.to_string())
}

/// Where this replica's file stands against the stream.
pub struct Mirror {
    js: jetstream::Context,
    stream: stream::Stream,
    /// The stream sequence of the last message this replica wrote or read (0: none yet).
    last: u64,
    /// The seq of the record after the last one the stream is known to hold.
    covered: u64,
    /// Delivers the stream from `last + 1` while this replica follows it. Reached only
    /// through `&mut self`: the lock is there to share the leader's `Mirror` between tasks.
    feed: std::sync::Mutex<Option<pull::Ordered>>,
}

/// How long a feed may stay silent while messages are known to wait.
const FEED_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Mirror {
    /// Opens the stream (created, replicated to as many servers as the cluster has, up to
    /// three) and finds where `log` stands in it.
    pub async fn open(
        js: &jetstream::Context,
        limits: super::StreamLimits,
        log: &AuditLog,
    ) -> Result<Mirror, MirrorError> {
        let stream = super::replicated(js, AUDIT_STREAM, |replicas| {
            js.create_or_update_stream(stream::Config {
                name: AUDIT_STREAM.into(),
                subjects: vec![crate::bus::AUDIT.into()],
                storage: stream::StorageType::File,
                max_bytes: limits.max_bytes,
                discard: stream::DiscardPolicy::Old,
                num_replicas: replicas,
                ..Default::default()
            })
        })
        .await
        .map_err(unavailable)?;
        let stream = js
            .get_stream(&stream.config.name)
            .await
            .map_err(unavailable)?;
        let mut mirror = Mirror {
            js: js.clone(),
            stream,
            last: 0,
            covered: 1,
            feed: std::sync::Mutex::new(None),
        };
        mirror.locate(log.position().next_seq).await?;
        Ok(mirror)
    }

    /// The seqs a message carries: its first record's and the one after its last.
    async fn seqs_at(&self, sequence: u64) -> Result<(u64, u64), MirrorError> {
        let m = self
            .stream
            .get_raw_message(sequence)
            .await
            .map_err(unavailable)?;
        seqs_of(&m.headers, sequence)
    }

    /// Finds the message whose first record is `next` (the one after this replica's last).
    async fn locate(&mut self, next: u64) -> Result<(), MirrorError> {
        let state = self.stream.get_info().await.map_err(unavailable)?.state;
        if state.messages == 0 {
            self.last = state.last_sequence;
            self.covered = next;
            return Ok(());
        }
        let (lo, hi) = (state.first_sequence, state.last_sequence);
        let (oldest, _) = self.seqs_at(lo).await?;
        let (_, newest) = self.seqs_at(hi).await?;
        if next > newest {
            return Err(MirrorError::Diverged(format!(
                "this replica's audit trail holds records up to {} but the replicated trail ends \
                 at record {}: the file holds records no leader replicated; move it aside to \
                 start this replica from the replicated trail",
                next - 1,
                newest - 1
            )));
        }
        if next < oldest {
            return Err(MirrorError::Diverged(format!(
                "the replicated trail starts at record {oldest} (older messages went past \
                 `--stream-max-bytes`), but this replica's audit trail ends at record {}: it \
                 cannot catch up; start it from a copy of a current replica's trail",
                next - 1
            )));
        }
        self.covered = next;
        if next == newest {
            self.last = hi;
            return Ok(());
        }
        // Messages are appended in record order and only the oldest are ever dropped.
        let (mut a, mut b) = (lo, hi);
        while a <= b {
            let mid = a + (b - a) / 2;
            let (first, after) = self.seqs_at(mid).await?;
            if first == next {
                self.last = mid - 1;
                return Ok(());
            }
            if after <= next {
                a = mid + 1;
            } else if first > next {
                b = mid - 1;
            } else {
                // Inside a message: this replica was killed while writing its file, after the
                // message was replicated, and its restart cut the unfinished record. The
                // message is read again from its start; what the file holds is skipped.
                self.last = mid - 1;
                return Ok(());
            }
        }
        Err(MirrorError::Diverged(format!(
            "record {next} does not start a message of the replicated trail: this replica's \
             trail and the leader's differ"
        )))
    }

    /// Appends prepared records to the stream, in messages of at most [`CHUNK`] bytes, each
    /// after the last message this replica knows of. What an earlier call already appended
    /// is not appended again: a push that failed midway is retried with the same `prepared`.
    pub async fn push(&mut self, prepared: &Prepared) -> Result<(), MirrorError> {
        // A writer reads nothing: the feed it followed with would only fill memory.
        *self.feed() = None;
        let (first, _) = prepared.seqs();
        for (from, to, text) in chunks(prepared.text(), first) {
            if to <= self.covered {
                continue;
            }
            self.append(from, to, text).await?;
        }
        Ok(())
    }

    async fn append(&mut self, from: u64, to: u64, text: &str) -> Result<(), MirrorError> {
        let id = message_id(from, text);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            "Nats-Expected-Last-Sequence",
            self.last.to_string().as_str(),
        );
        headers.insert("Nats-Msg-Id", id.as_str());
        headers.insert(FIRST, from.to_string().as_str());
        headers.insert(NEXT, to.to_string().as_str());
        let sent = self
            .js
            .publish_with_headers(crate::bus::AUDIT, headers, text.to_string().into())
            .await
            .map_err(unavailable)?;
        match sent.await {
            Ok(ack) => {
                self.last = ack.sequence;
                self.covered = to;
                Ok(())
            }
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                // Either this very message was stored by an attempt whose answer was lost,
                // or another replica wrote since.
                let newest = self.stream.get_info().await.map_err(unavailable)?;
                let last = newest.state.last_sequence;
                let m = self
                    .stream
                    .get_raw_message(last)
                    .await
                    .map_err(unavailable)?;
                let theirs = m.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_string());
                if theirs.as_deref() == Some(id.as_str()) {
                    self.last = last;
                    self.covered = to;
                    return Ok(());
                }
                Err(MirrorError::Deposed(format!(
                    "the trail's last message is {last}, this replica expected {}",
                    self.last
                )))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The stream's message `sequence`, from the feed that delivers the stream in order from
    /// where this replica stands (opened here if it is not): one request per batch of
    /// messages rather than one per message, which a standby needs to keep up with the
    /// leader and to catch up quickly after a restart.
    async fn next_message(&mut self, sequence: u64) -> Result<async_nats::Message, MirrorError> {
        // A feed that lost its place (an ordered consumer that was recreated before it had
        // delivered anything starts again from the stream's beginning) is opened again once.
        for opened_here in [self.feed().is_none(), true] {
            if opened_here {
                *self.feed() = Some(self.open_feed(sequence).await?);
            }
            let feed = self.feed().as_mut().expect("opened above");
            let (m, at) = next_in(feed).await?;
            if at == sequence {
                return Ok(m.split().0);
            }
            *self.feed() = None;
            if opened_here && at > sequence {
                return Err(MirrorError::Diverged(format!(
                    "the replicated trail delivered message {at} where {sequence} was due: \
                     messages went past `--stream-max-bytes` before this replica read them"
                )));
            }
        }
        Err(unavailable(format!(
            "the replicated trail did not deliver message {sequence} in order"
        )))
    }

    async fn open_feed(&self, sequence: u64) -> Result<pull::Ordered, MirrorError> {
        let consumer = self
            .stream
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: sequence,
                },
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        consumer.messages().await.map_err(unavailable)
    }

    fn feed(&mut self) -> &mut Option<pull::Ordered> {
        self.feed.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads what the stream holds beyond `log`'s last record into `log`, checked to chain
    /// on, handing each part written to `written` (the records, where each starts in the
    /// file, and the log); returns how many records were added.
    pub async fn catch_up(
        &mut self,
        log: &mut AuditLog,
        mut written: impl FnMut(&[Record], &[u64], &mut AuditLog) -> Result<(), AuditError>,
    ) -> Result<u64, MirrorError> {
        let newest = self
            .stream
            .get_info()
            .await
            .map_err(unavailable)?
            .state
            .last_sequence;
        let mut added = 0;
        while self.last < newest {
            let mut text = String::new();
            let mut read_to = self.last;
            let mut covered = self.covered;
            while read_to < newest && text.len() < CATCH_UP_BATCH {
                let m = match self.next_message(read_to + 1).await {
                    Ok(m) => m,
                    Err(e) => {
                        // What was read is kept; the feed is opened again next time.
                        *self.feed() = None;
                        if text.is_empty() {
                            return Err(e);
                        }
                        break;
                    }
                };
                let headers = m.headers.clone().unwrap_or_default();
                let (first, after) = seqs_of(&headers, read_to + 1)?;
                if first > covered || after <= covered {
                    return Err(MirrorError::Diverged(format!(
                        "message {} of the replicated trail holds records {first} to {}, this \
                         replica expected record {covered}",
                        read_to + 1,
                        after - 1
                    )));
                }
                let payload = std::str::from_utf8(&m.payload).map_err(|e| {
                    MirrorError::Diverged(format!(
                        "message {} of the replicated trail is not text: {e}",
                        read_to + 1
                    ))
                })?;
                // The records this replica holds already (the start of a message it was
                // writing when it stopped); the chain check of what follows proves them the same.
                let held: usize = payload
                    .split_inclusive('\n')
                    .take((covered - first) as usize)
                    .map(str::len)
                    .sum();
                text.push_str(&payload[held..]);
                read_to += 1;
                covered = after;
            }
            // Messages taken from the feed and not written are read again: the feed starts
            // over from the last one written.
            let written_out = log.adopt(&text).and_then(|(prepared, records)| {
                let starts = log.commit(&prepared)?;
                Ok((records, starts))
            });
            let (records, starts) = match written_out {
                Ok(w) => w,
                Err(e) => {
                    *self.feed() = None;
                    return Err(e.into());
                }
            };
            added += covered - self.covered;
            self.last = read_to;
            self.covered = covered;
            written(&records, &starts, log)?;
        }
        Ok(added)
    }
}

/// The next message a feed delivers, and its stream sequence.
async fn next_in(feed: &mut pull::Ordered) -> Result<(jetstream::Message, u64), MirrorError> {
    let m = match tokio::time::timeout(FEED_WAIT, feed.next()).await {
        Ok(Some(Ok(m))) => m,
        Ok(Some(Err(e))) => return Err(unavailable(e)),
        Ok(None) => return Err(unavailable("the feed of the replicated trail ended")),
        Err(_) => return Err(unavailable("the replicated trail did not deliver in time")),
    };
    let at = m.info().map_err(unavailable)?.stream_sequence;
    Ok((m, at))
}

/// What the replicated trail held when it was read: records `first` to `next - 1`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Held {
    pub first: u64,
    pub next: u64,
}

/// Hands the text of every message the replicated trail holds, oldest first, to `out`: what
/// the leader had written when the reading began (`None`: the trail is empty). Older
/// messages may have gone past the stream's size limit; the replicas' files still hold them.
pub async fn read_replicated(
    js: &jetstream::Context,
    mut out: impl FnMut(&str) -> Result<(), AuditError>,
) -> Result<Option<Held>, MirrorError> {
    let mut stream = js.get_stream(AUDIT_STREAM).await.map_err(|e| {
        MirrorError::Unavailable(format!(
            "no replicated audit trail (the stream {AUDIT_STREAM}) on this server: {e}"
        ))
    })?;
    let state = stream.info().await.map_err(unavailable)?.state.clone();
    if state.messages == 0 {
        return Ok(None);
    }
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: state.first_sequence,
            },
            ..Default::default()
        })
        .await
        .map_err(unavailable)?;
    let mut feed = consumer.messages().await.map_err(unavailable)?;
    let mut held: Option<Held> = None;
    loop {
        let (m, at) = next_in(&mut feed).await?;
        let (first, next) = seqs_of(&m.headers.clone().unwrap_or_default(), at)?;
        if let Some(h) = held {
            if first != h.next {
                return Err(MirrorError::Diverged(format!(
                    "message {at} of the replicated trail starts at record {first} where record \
                     {} was due: messages went past the stream's size limit while it was read; \
                     read it again",
                    h.next
                )));
            }
        }
        out(std::str::from_utf8(&m.payload).map_err(|e| {
            MirrorError::Diverged(format!("message {at} of the replicated trail: {e}"))
        })?)?;
        held = Some(Held {
            first: held.map_or(first, |h| h.first),
            next,
        });
        if at >= state.last_sequence {
            return Ok(held);
        }
    }
}

/// The records of `text` (one per line, the first numbered `first`) in parts of at most
/// [`CHUNK`] bytes (a longer record alone), as (first seq, seq after, text).
/// A message's id: its first record's seq and its last record's hash, which covers every
/// record before it — so two writers' messages never share an id, and no second hash of the
/// text is needed. (A text without a readable hash field is hashed whole.)
fn message_id(from: u64, text: &str) -> String {
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

fn chunks(text: &str, first: u64) -> Vec<(u64, u64, &str)> {
    let mut out = Vec::new();
    let (mut start, mut from, mut seq, mut at) = (0usize, first, first, 0usize);
    for line in text.split_inclusive('\n') {
        if at > start && at + line.len() - start > CHUNK {
            out.push((from, seq, &text[start..at]));
            start = at;
            from = seq;
        }
        at += line.len();
        seq += 1;
    }
    if at > start {
        out.push((from, seq, &text[start..at]));
    }
    out
}

fn seqs_of(headers: &async_nats::HeaderMap, sequence: u64) -> Result<(u64, u64), MirrorError> {
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
    Ok((read(FIRST)?, read(NEXT)?))
}

#[cfg(test)]
mod tests {
    use super::{chunks, message_id, CHUNK};

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

    #[test]
    fn records_are_cut_into_parts_at_line_ends_and_numbered() {
        let line = format!("{}\n", "x".repeat(CHUNK / 3));
        let text = line.repeat(7);
        let parts = chunks(&text, 10);
        assert_eq!(
            parts.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
            [(10, 12), (12, 14), (14, 16), (16, 17)]
        );
        assert!(parts.iter().all(|p| p.2.ends_with('\n')));
        assert_eq!(parts.iter().map(|p| p.2).collect::<String>(), text);
        // A record longer than a part goes alone.
        let long = format!("a\n{}\nb\n", "y".repeat(CHUNK * 2));
        let parts = chunks(&long, 1);
        assert_eq!(
            parts.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
            [(1, 2), (2, 3), (3, 4)]
        );
        assert!(chunks("", 5).is_empty());
    }
}
