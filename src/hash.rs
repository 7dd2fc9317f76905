//! Content hashes that name versions of inputs (graph, intent) in every decision.

use sha2::{Digest, Sha256};

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for p in parts {
        hasher.update(p);
    }
    hasher.finalize().into()
}

/// `sha256:<hex>` of the bytes.
pub fn sha256(bytes: &[u8]) -> String {
    sha256_parts(&[bytes])
}

/// The hash of the parts one after the other, without joining them first.
pub fn sha256_parts(parts: &[&[u8]]) -> String {
    let digest = digest(parts);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    // By table rather than `write!`: the audit trail hashes every record it writes.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in digest {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// The first 128 bits of the SHA-256 of the parts one after the other: a key that costs 16
/// bytes whatever the parts' length, and that no sender can steer onto another's.
pub fn first_128(parts: &[&[u8]]) -> u128 {
    let digest = digest(parts);
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_are_lowercase_hex_of_sha256() {
        // FIPS 180-2's example for "abc".
        let expected = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(super::sha256(b"abc"), expected);
        assert_eq!(super::sha256_parts(&[b"a", b"", b"bc"]), expected);
    }
}
