//! RFC 3339 instants as they travel on the wire.
//!
//! Kept as a newtype so that every timestamp entering the arbiter is checked once, at the
//! boundary, and always leaves in one canonical spelling (UTC, `Z`, only the precision that was
//! present) — decisions must be byte-identical for identical inputs.

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn parse(text: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| Timestamp(t.with_timezone(&Utc)))
            .map_err(|e| format!("`{text}` is not an RFC 3339 timestamp ({e})"))
    }

    pub fn from_datetime(t: DateTime<Utc>) -> Self {
        Timestamp(t)
    }

    pub fn datetime(&self) -> DateTime<Utc> {
        self.0
    }

    pub fn plus_millis(&self, ms: i64) -> Self {
        Timestamp(self.0 + chrono::Duration::milliseconds(ms))
    }

    /// Milliseconds since the Unix epoch: how compact indexes store an instant.
    pub fn millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    /// The instant `ms` milliseconds after the Unix epoch (clamped to what can be written).
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC))
    }

    /// Milliseconds from `self` to `later` (negative when `later` is earlier).
    pub fn millis_until(&self, later: &Timestamp) -> i64 {
        (later.0 - self.0).num_milliseconds()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date-time", "description": "RFC 3339 instant" })
    }
}
