//! Content hashes that name versions of inputs (graph, intent) in every decision.

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of the bytes.
pub fn sha256(bytes: &[u8]) -> String {
    sha256_parts(&[bytes])
}

/// The hash of the parts one after the other, without joining them first.
pub fn sha256_parts(parts: &[&[u8]]) -> String {
    use std::fmt::Write;
    let mut hasher = Sha256::new();
    for p in parts {
        hasher.update(p);
    }
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hasher.finalize() {
        let _ = write!(out, "{b:02x}");
    }
    out
}
