//! Reading one recorded decision back by where it starts in the trail: what lets the
//! idempotency ledger keep a position instead of a whole decision.

use super::record::Record;
use crate::contract::Decision;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;

/// The audit file a service writes, read one record at a time.
pub struct TrailRecall {
    path: PathBuf,
}

impl TrailRecall {
    pub fn new(path: &std::path::Path) -> TrailRecall {
        TrailRecall {
            path: path.to_path_buf(),
        }
    }
}

impl crate::engine::Recall for TrailRecall {
    fn recall(&self, at: u64) -> Result<Decision, String> {
        let where_ = || format!("{} at byte {at}", self.path.display());
        let mut file = std::fs::File::open(&self.path).map_err(|e| format!("{}: {e}", where_()))?;
        file.seek(SeekFrom::Start(at))
            .map_err(|e| format!("{}: {e}", where_()))?;
        let mut line = String::new();
        BufReader::new(file)
            .read_line(&mut line)
            .map_err(|e| format!("{}: {e}", where_()))?;
        let r: Record =
            serde_json::from_str(&line).map_err(|e| format!("{}: not a record: {e}", where_()))?;
        r.decision()
            .ok_or_else(|| format!("{}: record {} is not a decision", where_(), r.seq))
    }
}
