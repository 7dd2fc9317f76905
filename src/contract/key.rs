//! How the service files one proposal: by its (agent, id).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A proposal's (agent, id) as 128 bits of SHA-256 over both: an entry costs the same
/// whatever the names' length (the ledger, the trail's index and the escalations waiting
/// hold hundreds of thousands of them), and no sender can choose names that land on another
/// agent's entry. Written as 32 hex digits, which a bucket key or a JSON key may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProposalKey(pub u128);

impl ProposalKey {
    pub fn of(agent: &str, id: &str) -> ProposalKey {
        ProposalKey(crate::hash::first_128(&[
            agent.as_bytes(),
            &[0],
            id.as_bytes(),
        ]))
    }
}

impl std::fmt::Display for ProposalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl std::str::FromStr for ProposalKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 {
            return Err(format!("a proposal key is 32 hex digits, not {s:?}"));
        }
        u128::from_str_radix(s, 16)
            .map(ProposalKey)
            .map_err(|e| format!("proposal key {s:?}: {e}"))
    }
}

impl Serialize for ProposalKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ProposalKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tell_apart_names_that_read_alike_run_together() {
        assert_ne!(ProposalKey::of("ab", "c"), ProposalKey::of("a", "bc"));
        assert_eq!(ProposalKey::of("a", "bc"), ProposalKey::of("a", "bc"));
    }

    #[test]
    fn a_key_reads_back_from_its_text_and_as_a_json_map_key() {
        let k = ProposalKey::of("cost-1", "x");
        assert_eq!(k.to_string().parse::<ProposalKey>(), Ok(k));
        let map: std::collections::BTreeMap<ProposalKey, u8> = [(k, 1)].into();
        let text = serde_json::to_string(&map).unwrap();
        assert_eq!(
            serde_json::from_str::<std::collections::BTreeMap<_, u8>>(&text).unwrap(),
            map
        );
        assert!("12".parse::<ProposalKey>().is_err());
    }
}
