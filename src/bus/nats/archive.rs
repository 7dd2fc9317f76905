//! The JetStream object store `ARBITER_TRAIL`, where each replica keeps a copy of its sealed
//! trail files under its own name (`<replica>/<file>`), beside the replicated stream.
//!
//! The stream holds only its newest `--stream-max-bytes`; the copies hold what a replica
//! started on an empty disk needs to begin from a checkpoint instead of record 1. Files here
//! are whole files that never change once written: a name and a size say which one it is.
//! What to copy and what to fetch is the service's to say (`service/archiver.rs`).

use super::{nats, NatsError};
use async_nats::jetstream::{self, object_store};
use futures_util::StreamExt;
use std::path::Path;
use tokio::io::AsyncWriteExt;

pub const TRAIL_BUCKET: &str = "ARBITER_TRAIL";

/// One object of the bucket: `owner/file`, and its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub owner: String,
    pub file: String,
    pub size: u64,
}

#[derive(Clone)]
pub struct Archive {
    store: object_store::ObjectStore,
}

impl Archive {
    /// Opens the bucket, created replicated on as many servers as the cluster has, up to
    /// three, with no limit of its own: what it holds is bounded by the replicas' retention.
    pub async fn open(js: &jetstream::Context) -> Result<Archive, NatsError> {
        if let Ok(store) = js.get_object_store(TRAIL_BUCKET).await {
            return Ok(Archive { store });
        }
        let store = super::replicated(js, &format!("OBJ_{TRAIL_BUCKET}"), |replicas| {
            js.create_object_store(object_store::Config {
                bucket: TRAIL_BUCKET.into(),
                description: Some("copies of the replicas' sealed audit trail files".into()),
                storage: jetstream::stream::StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
        })
        .await
        .map_err(nats)?;
        Ok(Archive { store })
    }

    /// Every object the bucket holds, of every owner.
    pub async fn list(&self) -> Result<Vec<Stored>, NatsError> {
        let mut listed = self.store.list().await.map_err(nats)?;
        let mut out = Vec::new();
        while let Some(info) = listed.next().await {
            let info = info.map_err(nats)?;
            if info.deleted {
                continue;
            }
            if let Some((owner, file)) = info.name.split_once('/') {
                out.push(Stored {
                    owner: owner.to_string(),
                    file: file.to_string(),
                    size: info.size as u64,
                });
            }
        }
        Ok(out)
    }

    /// Copies the file at `path` in as `owner/file`, replacing an object of that name, at no
    /// more than `bytes_per_sec`: a segment of tens of megabytes sent at once holds up, on
    /// the same servers, the trail's own appends, which every decision waits for.
    pub async fn put(
        &self,
        owner: &str,
        file: &str,
        path: &Path,
        bytes_per_sec: u64,
    ) -> Result<u64, NatsError> {
        let f = tokio::fs::File::open(path)
            .await
            .map_err(|e| NatsError::Nats(format!("{}: {e}", path.display())))?;
        let mut paced = Paced {
            inner: f,
            bytes_per_sec: bytes_per_sec.max(1),
            began: tokio::time::Instant::now(),
            read: 0,
            wait: None,
        };
        let info = self
            .store
            .put(format!("{owner}/{file}").as_str(), &mut paced)
            .await
            .map_err(nats)?;
        Ok(info.size as u64)
    }

    /// Writes the object `owner/file` to `path` (the object's digest checked as it is read).
    pub async fn get(&self, owner: &str, file: &str, path: &Path) -> Result<u64, NatsError> {
        let mut object = self
            .store
            .get(format!("{owner}/{file}"))
            .await
            .map_err(nats)?;
        let mut out = tokio::fs::File::create(path)
            .await
            .map_err(|e| NatsError::Nats(format!("{}: {e}", path.display())))?;
        let written = tokio::io::copy(&mut object, &mut out)
            .await
            .map_err(|e| NatsError::Nats(format!("{owner}/{file}: {e}")))?;
        out.sync_all()
            .await
            .map_err(|e| NatsError::Nats(format!("{}: {e}", path.display())))?;
        out.shutdown().await.ok();
        Ok(written)
    }

    pub async fn delete(&self, owner: &str, file: &str) -> Result<(), NatsError> {
        match self.store.delete(format!("{owner}/{file}")).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == object_store::DeleteErrorKind::NotFound => Ok(()),
            Err(e) => Err(nats(e)),
        }
    }
}

/// A reader that reads no faster than `bytes_per_sec`, measured from its first read.
struct Paced<R> {
    inner: R,
    bytes_per_sec: u64,
    began: tokio::time::Instant,
    read: u64,
    wait: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Paced<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::future::Future;
        use std::task::Poll;
        loop {
            if let Some(wait) = self.wait.as_mut() {
                if wait.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.wait = None;
            }
            let due = self.began
                + std::time::Duration::from_secs_f64(self.read as f64 / self.bytes_per_sec as f64);
            if due <= tokio::time::Instant::now() {
                break;
            }
            self.wait = Some(Box::pin(tokio::time::sleep_until(due)));
        }
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            self.read += (buf.filled().len() - before) as u64;
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::Paced;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_paced_reader_takes_as_long_as_its_rate_says() {
        let data: Vec<u8> = (0..256u32 << 10).map(|i| i as u8).collect();
        let mut paced = Paced {
            inner: &data[..],
            bytes_per_sec: 1 << 20,
            began: tokio::time::Instant::now(),
            read: 0,
            wait: None,
        };
        let began = std::time::Instant::now();
        let (mut out, mut chunk) = (Vec::new(), vec![0u8; 64 << 10]);
        loop {
            let n = paced.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(out, data);
        // 256 KiB at 1 MiB/s in reads of 64 KiB: the last begins once 192 KiB are due.
        let took = began.elapsed();
        assert!(
            took >= std::time::Duration::from_millis(180),
            "256 KiB at 1 MiB/s read in {took:?}"
        );
    }
}
