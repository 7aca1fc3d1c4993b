//! HMAC-SHA256 (RFC 2104, with SHA-256 from FIPS 180-4), the `HS256` of
//! a JSON Web Signature (RFC 7518 section 3.2), and a comparison of MACs
//! whose time does not depend on where they differ.
//!
//! HMAC is two hashes around the key:
//!
//! ```text
//! K0   = the key, hashed first if longer than the block (64 bytes),
//!        then padded with zeros to 64 bytes
//! HMAC = SHA-256((K0 ^ opad) || SHA-256((K0 ^ ipad) || message))
//!        ipad = 0x36 repeated, opad = 0x5c repeated
//! ```
//!
//! A token's signature is checked by computing the MAC of what it signs
//! and comparing the two. A comparison that stops at the first byte that
//! differs tells, by its time, how many leading bytes an attacker got
//! right, and lets them find a valid MAC byte by byte; [`verify`] looks at
//! every byte whatever the others hold (RFC 7518 section 3.2: "the
//! comparison of the computed HMAC value to the JWS Signature value MUST
//! be done in a constant-time manner").

use sha2::{Digest, Sha256};

/// SHA-256's block size, in bytes.
const BLOCK: usize = 64;

/// The length of an HMAC-SHA256, in bytes.
pub const MAC_LEN: usize = 32;

/// A key, padded (or hashed, then padded) to one block, ready to sign
/// many messages.
#[derive(Clone)]
pub struct Key {
    block: [u8; BLOCK],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)") // never the secret
    }
}

impl Key {
    /// The key `secret`: used as it is up to 64 bytes, hashed if longer
    /// (RFC 2104 section 2).
    pub fn new(secret: &[u8]) -> Key {
        let mut block = [0u8; BLOCK];
        if secret.len() > BLOCK {
            let digest = Sha256::digest(secret);
            for (b, d) in block.iter_mut().zip(digest.iter()) {
                *b = *d;
            }
        } else {
            for (b, s) in block.iter_mut().zip(secret) {
                *b = *s;
            }
        }
        Key { block }
    }

    /// The MAC of `message`.
    ///
    /// ```
    /// use pushwire::auth::hmac::Key;
    ///
    /// // RFC 4231, test case 2.
    /// let mac = Key::new(b"Jefe").sign(b"what do ya want for nothing?");
    /// assert_eq!(mac[..4], [0x5b, 0xdc, 0xc1, 0x46]);
    /// ```
    pub fn sign(&self, message: &[u8]) -> [u8; MAC_LEN] {
        let pad = |byte: u8| {
            let mut padded = self.block;
            for b in &mut padded {
                *b ^= byte;
            }
            padded
        };
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        let outer = Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize();
        let mut mac = [0u8; MAC_LEN];
        for (m, o) in mac.iter_mut().zip(outer.iter()) {
            *m = *o;
        }
        mac
    }

    /// Whether `mac` is the MAC of `message`, compared in constant time
    /// ([`verify`]).
    pub fn verify(&self, message: &[u8], mac: &[u8]) -> bool {
        verify(&self.sign(message), mac)
    }
}

/// Whether two MACs are equal, looking at every byte whatever the others
/// hold: the time depends on the lengths only (which are public: an
/// HS256 signature is 32 bytes).
pub fn verify(expected: &[u8], got: &[u8]) -> bool {
    if expected.len() != got.len() {
        return false;
    }
    let mut differ = 0u8;
    for (a, b) in expected.iter().zip(got) {
        differ |= a ^ b;
    }
    // Read through black_box so the compiler cannot turn the loop back
    // into an early exit.
    std::hint::black_box(differ) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 4231 section 4: the HMAC-SHA-256 test vectors (case 5, a
    /// truncated MAC, is left out: HS256 is never truncated).
    #[test]
    fn rfc_4231_test_vectors() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                hex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than \
                  block-size data. The key needs to be hashed before being used by the \
                  HMAC algorithm."
                    .to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, message, mac) in cases {
            let key = Key::new(&key);
            assert_eq!(key.sign(&message).to_vec(), hex(mac));
            assert!(key.verify(&message, &hex(mac)));
        }
    }

    #[test]
    fn a_mac_differing_anywhere_or_of_another_length_does_not_verify() {
        let key = Key::new(b"secret");
        let mac = key.sign(b"header.claims");
        for at in 0..MAC_LEN {
            let mut wrong = mac;
            wrong[at] ^= 1;
            assert!(!key.verify(b"header.claims", &wrong), "byte {at}");
        }
        assert!(!key.verify(b"header.claims", &mac[..31]));
        assert!(!key.verify(b"header.claims", &[]));
        assert!(!key.verify(b"header.claimz", &mac));
        assert!(key.verify(b"header.claims", &mac));
        assert_eq!(format!("{key:?}"), "Key(..)");
    }
}
