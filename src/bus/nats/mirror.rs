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

mod parts;

use parts::{Joiner, Span};

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
    /// The stream no longer holds the records after this replica's last one (they went past
    /// `--stream-max-bytes` while it was away): `ends` is its last record, `starts` the
    /// stream's first.
    #[error(
        "the replicated trail starts at record {starts} (older messages went past \
         `--stream-max-bytes`), but this replica's audit trail ends at record {ends}: it \
         cannot catch up; with no copy of the sealed trail in the object store `ARBITER_TRAIL` \
         to start from, start it from a copy of a current replica's trail"
    )]
    Behind { ends: u64, starts: u64 },
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
    /// The seq of the record after the last one the stream is known to hold whole.
    covered: u64,
    /// Of a long record this replica is appending in parts: which one (its parts' id
    /// without their place) and how many of its bytes the stream holds so far.
    covered_part: Option<(String, u64)>,
    /// The long record being read in parts, while following the stream.
    joiner: Joiner,
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
            covered_part: None,
            joiner: Joiner::default(),
            feed: std::sync::Mutex::new(None),
        };
        mirror.locate(log.position().next_seq).await?;
        Ok(mirror)
    }

    /// The span of the stream's message `sequence`.
    async fn span_at(&self, sequence: u64) -> Result<Span, MirrorError> {
        let m = self
            .stream
            .get_raw_message(sequence)
            .await
            .map_err(unavailable)?;
        Span::of(&m.headers, sequence)
    }

    /// Finds the message where record `next` (the one after this replica's last) starts.
    async fn locate(&mut self, next: u64) -> Result<(), MirrorError> {
        let state = self.stream.get_info().await.map_err(unavailable)?.state;
        self.covered = next;
        self.covered_part = None;
        self.joiner.clear();
        if state.messages == 0 {
            self.last = state.last_sequence;
            return Ok(());
        }
        let (lo, hi) = (state.first_sequence, state.last_sequence);
        let oldest = self.span_at(lo).await?.first;
        let newest = self.span_at(hi).await?;
        if next > newest.next {
            return Err(MirrorError::Diverged(format!(
                "this replica's audit trail holds records up to {} but the replicated trail ends \
                 at record {}: the file holds records no leader replicated; move it aside to \
                 start this replica from the replicated trail",
                next - 1,
                newest.next - 1
            )));
        }
        if next < oldest {
            return Err(MirrorError::Behind {
                ends: next - 1,
                starts: oldest,
            });
        }
        // Messages are appended in record order and only the oldest are ever dropped: the
        // first message that starts at or after record `next`, or holds it, is where to read
        // from. (A message holding it from before its start: this replica was killed while
        // writing its file, after the message was replicated, and its restart cut the
        // unfinished record; the message is read again from its start and what the file
        // holds is skipped.)
        let (mut a, mut b, mut found) = (lo, hi, None);
        while a <= b {
            let mid = a + (b - a) / 2;
            let span = self.span_at(mid).await?;
            if span.first >= next || span.next > next {
                found = Some((mid, span));
                b = mid - 1;
            } else {
                a = mid + 1;
            }
        }
        match found {
            None => self.last = hi,
            Some((at, span)) if span.first <= next => self.last = at - 1,
            Some(_) => {
                return Err(MirrorError::Diverged(format!(
                    "record {next} does not start a message of the replicated trail: this \
                     replica's trail and the leader's differ"
                )))
            }
        }
        Ok(())
    }

    /// Appends prepared records to the stream, in messages of at most [`parts::CHUNK`] bytes
    /// (a longer record in parts), each after the last message this replica knows of. What an
    /// earlier call already appended is not appended again: a push that failed midway is
    /// retried with the same `prepared`.
    pub async fn push(&mut self, prepared: &Prepared) -> Result<(), MirrorError> {
        // A writer reads nothing: the feed it followed with would only fill memory.
        *self.feed() = None;
        self.joiner.clear();
        let (first, _) = prepared.seqs();
        for piece in parts::pieces(prepared.text(), first) {
            let held = if piece.span.unfinished() {
                // A part of a record the stream holds whole, or of the one this replica was
                // appending when a push failed: the same record (its hash is in the id), the
                // bytes already there.
                let end = piece.span.part.unwrap_or(0) + piece.text.len() as u64;
                piece.span.first < self.covered
                    || matches!(&self.covered_part, Some((record, bytes))
                        if piece.record() == Some(record.as_str()) && end <= *bytes)
            } else {
                piece.span.next <= self.covered
            };
            if !held {
                self.append(&piece).await?;
            }
        }
        Ok(())
    }

    async fn append(&mut self, piece: &parts::Piece<'_>) -> Result<(), MirrorError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            "Nats-Expected-Last-Sequence",
            self.last.to_string().as_str(),
        );
        headers.insert("Nats-Msg-Id", piece.id.as_str());
        piece.span.headers(&mut headers);
        let sent = self
            .js
            .publish_with_headers(crate::bus::AUDIT, headers, piece.text.to_string().into())
            .await
            .map_err(unavailable)?;
        match sent.await {
            Ok(ack) => {
                self.appended(ack.sequence, piece);
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
                if theirs.as_deref() == Some(piece.id.as_str()) {
                    self.appended(last, piece);
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

    /// Notes that the stream stored `piece` as its message `sequence`.
    fn appended(&mut self, sequence: u64, piece: &parts::Piece<'_>) {
        self.last = sequence;
        if piece.span.unfinished() {
            let record = piece.record().unwrap_or_default().to_string();
            let bytes = piece.span.part.unwrap_or(0) + piece.text.len() as u64;
            self.covered_part = Some((record, bytes));
        } else {
            self.covered = piece.span.next;
            self.covered_part = None;
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
                // Messages went past `--stream-max-bytes` before this replica read them.
                let (m, _) = m.split();
                let headers = m.headers.unwrap_or_default();
                return Err(MirrorError::Behind {
                    ends: self.covered - 1,
                    starts: Span::of(&headers, at)?.first,
                });
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
            // What the joiner held before this batch, should the batch not be written.
            let joined_before = self.joiner.clone();
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
                            self.last = read_to;
                            return Err(e);
                        }
                        break;
                    }
                };
                let headers = m.headers.clone().unwrap_or_default();
                let span = Span::of(&headers, read_to + 1)?;
                let payload = std::str::from_utf8(&m.payload).map_err(|e| {
                    MirrorError::Diverged(format!(
                        "message {} of the replicated trail is not text: {e}",
                        read_to + 1
                    ))
                })?;
                read_to += 1;
                if span.part.is_some() && span.first < covered {
                    // A part of a record this replica holds already.
                    continue;
                }
                if span.first > covered || (span.part.is_none() && span.next <= covered) {
                    return Err(MirrorError::Diverged(format!(
                        "message {read_to} of the replicated trail holds records {} to {}, \
                         this replica expected record {covered}",
                        span.first,
                        span.next.max(span.first + 1) - 1
                    )));
                }
                let Some(whole) = self.joiner.take(span, read_to, payload)? else {
                    continue;
                };
                // The records this replica holds already (the start of a message it was
                // writing when it stopped); the chain check of what follows proves them the same.
                let held: usize = whole
                    .split_inclusive('\n')
                    .take((covered - span.first) as usize)
                    .map(str::len)
                    .sum();
                text.push_str(&whole[held..]);
                covered = span.next;
            }
            if text.is_empty() {
                // Only parts of a record still being written, or of one this replica holds.
                self.last = read_to;
                continue;
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
                    self.joiner = joined_before;
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
    let mut joiner = Joiner::default();
    loop {
        let (m, at) = next_in(&mut feed).await?;
        let span = Span::of(&m.headers.clone().unwrap_or_default(), at)?;
        let text = std::str::from_utf8(&m.payload).map_err(|e| {
            MirrorError::Diverged(format!("message {at} of the replicated trail: {e}"))
        })?;
        // The first parts of a record that went past the size limit before the reading began.
        let orphan = held.is_none() && !joiner.is_open() && span.part.is_some_and(|p| p > 0);
        if !orphan {
            if let Some(h) = held.filter(|h| span.first != h.next) {
                return Err(MirrorError::Diverged(format!(
                    "message {at} of the replicated trail starts at record {} where record \
                     {} was due: messages went past the stream's size limit while it was read; \
                     read it again",
                    span.first, h.next
                )));
            }
            if let Some(whole) = joiner.take(span, at, text)? {
                out(&whole)?;
                held = Some(Held {
                    first: held.map_or(span.first, |h| h.first),
                    next: span.next,
                });
            }
        }
        if at >= state.last_sequence {
            return Ok(held);
        }
    }
}
