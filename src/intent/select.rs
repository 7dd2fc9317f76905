//! Which intent is in force at a given time.
//!
//! Rule: among intents whose window covers the time, the most specific — the one with the
//! shortest window — applies; an intent without a window is the fallback, in force when no
//! windowed intent covers the time. Equal windows are refused at load, so the choice is unique.

use super::Intent;
use crate::contract::Timestamp;

#[derive(Clone, Debug, Default)]
pub struct IntentSet {
    intents: Vec<Intent>,
}

impl IntentSet {
    pub fn new(intents: Vec<Intent>) -> Self {
        IntentSet { intents }
    }

    pub fn all(&self) -> &[Intent] {
        &self.intents
    }

    pub fn in_force(&self, at: Timestamp) -> Option<&Intent> {
        self.intents
            .iter()
            .filter(|i| i.window.is_none_or(|(s, e)| s <= at && at < e))
            .min_by_key(|i| {
                let length = i.window.map_or(i64::MAX, |(s, e)| s.millis_until(&e));
                (length, i.file.clone())
            })
    }
}
