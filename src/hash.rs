//! Content hashes that name versions of inputs (graph, intent) in every decision.

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of the bytes.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}
