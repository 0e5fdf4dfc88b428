//! Batch verification of Ed25519 signatures made by one key.
//!
//! A journal is signed by one key for long runs of records (until a rotation), and the auditor's
//! verifier checks every signature. `ed25519_dalek::verify_batch` checks a batch of `n`
//! signatures with one multiscalar multiplication of `2n + 1` points (every `R`, every public
//! key `A`, the base point `B`). When every signature of the batch names the same key, the `n`
//! key terms collapse into one: `(Σ zᵢ·kᵢ)·A`, and the multiplication has `n + 2` points.
//! That is the same equation `verify_batch` checks, with the same cofactorless identity test,
//! the same rejection of non-canonical `s`, undecodable `R` and the same challenge
//! `kᵢ = SHA-512(Rᵢ ‖ A ‖ Mᵢ)`; only the sum is grouped differently.
//!
//! The weights `zᵢ` are 128-bit random scalars drawn from the operating system for every
//! batch, so a forger cannot choose signatures that cancel out (a batch of bad signatures
//! passes with probability at most 2⁻¹²⁸).
//!
//! Like every batch verification, a `false` says "at least one signature is bad" and a `true`
//! that all are good; the caller finds the bad ones by checking each signature of a failed
//! batch on its own with [`ed25519_dalek::Verifier::verify`] (as the verifier does).

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha512};
use std::iter::once;

/// Whether every `(message, signature)` pair is a valid signature by `key`. An empty batch is
/// valid.
pub fn verify_same_key(key: &VerifyingKey, items: &[(&[u8], &Signature)]) -> bool {
    if items.is_empty() {
        return true;
    }
    let mut weights = vec![0u8; 16 * items.len()];
    if OsRng.try_fill_bytes(&mut weights).is_err() {
        // Without unpredictable weights a batch proves nothing: check one by one.
        use ed25519_dalek::Verifier;
        return items.iter().all(|(m, s)| key.verify(m, s).is_ok());
    }
    let key_bytes = key.as_bytes();
    let mut base_coefficient = Scalar::ZERO;
    let mut key_coefficient = Scalar::ZERO;
    let mut r_weights = Vec::with_capacity(items.len());
    let mut r_points = Vec::with_capacity(items.len());
    for (i, (message, signature)) in items.iter().enumerate() {
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes()))
        else {
            return false;
        };
        let mut challenge = Sha512::new();
        challenge.update(signature.r_bytes());
        challenge.update(key_bytes);
        challenge.update(message);
        let k = Scalar::from_hash(challenge);
        let mut z = [0u8; 32];
        z[..16].copy_from_slice(&weights[16 * i..16 * (i + 1)]);
        let z = Scalar::from_bytes_mod_order(z);
        base_coefficient -= z * s;
        key_coefficient += z * k;
        r_weights.push(z);
        r_points.push(CompressedEdwardsY(*signature.r_bytes()).decompress());
    }
    let sum = EdwardsPoint::optional_multiscalar_mul(
        once(base_coefficient)
            .chain(once(key_coefficient))
            .chain(r_weights),
        once(Some(ED25519_BASEPOINT_POINT))
            .chain(once(Some(key.to_edwards())))
            .chain(r_points),
    );
    sum.is_some_and(|p| p.is_identity())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(n: usize) -> (SigningKey, Vec<([u8; 32], Signature)>) {
        let key = SigningKey::generate(&mut OsRng);
        let items = (0..n)
            .map(|i| {
                let mut m = [0u8; 32];
                m[..8].copy_from_slice(&(i as u64).to_le_bytes());
                (m, key.sign(&m))
            })
            .collect();
        (key, items)
    }

    fn check(key: &VerifyingKey, items: &[([u8; 32], Signature)]) -> bool {
        let refs: Vec<(&[u8], &Signature)> = items.iter().map(|(m, s)| (&m[..], s)).collect();
        verify_same_key(key, &refs)
    }

    #[test]
    fn good_batches_pass_and_agree_with_dalek() {
        for n in [0, 1, 2, 7, 64, 300] {
            let (key, items) = signed(n);
            let vk = key.verifying_key();
            assert!(check(&vk, &items), "batch of {n}");
            let msgs: Vec<&[u8]> = items.iter().map(|(m, _)| &m[..]).collect();
            let sigs: Vec<Signature> = items.iter().map(|(_, s)| *s).collect();
            let vks = vec![vk; n];
            assert!(ed25519_dalek::verify_batch(&msgs, &sigs, &vks).is_ok());
        }
    }

    #[test]
    fn any_altered_message_signature_or_key_fails() {
        let (key, items) = signed(40);
        let vk = key.verifying_key();
        for i in [0, 17, 39] {
            // A message bit.
            let mut bad = items.clone();
            bad[i].0[5] ^= 1;
            assert!(!check(&vk, &bad), "message {i}");
            // Every byte of the signature, R half and s half.
            for b in [0, 13, 31, 32, 45, 63] {
                let mut bytes = items[i].1.to_bytes();
                bytes[b] ^= 0x10;
                let mut bad = items.clone();
                bad[i].1 = Signature::from_bytes(&bytes);
                assert!(!check(&vk, &bad), "signature {i} byte {b}");
            }
            // Two signatures swapped.
            let mut bad = items.clone();
            bad.swap(i, (i + 1) % items.len());
            let (m0, m1) = (bad[i].0, bad[(i + 1) % items.len()].0);
            bad[i].0 = m1;
            bad[(i + 1) % items.len()].0 = m0;
            assert!(!check(&vk, &bad), "swap {i}");
        }
        let other = SigningKey::generate(&mut OsRng).verifying_key();
        assert!(!check(&other, &items), "another key");
    }

    #[test]
    fn non_canonical_s_is_refused_like_dalek() {
        let (key, items) = signed(3);
        let vk = key.verifying_key();
        // s + ℓ: the same point equation, a non-canonical encoding.
        let mut bytes = items[1].1.to_bytes();
        let s = Scalar::from_canonical_bytes(bytes[32..].try_into().expect("32"))
            .into_option()
            .expect("canonical");
        let l_bytes: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for (j, out) in sum.iter_mut().enumerate() {
            let v = s.as_bytes()[j] as u16 + l_bytes[j] as u16 + carry;
            *out = v as u8;
            carry = v >> 8;
        }
        // s < ℓ < 2^253, so s + ℓ < 2^254 fits the 32 bytes and passes the high-bits test.
        assert!(carry == 0 && sum[31] & 0xc0 == 0);
        {
            bytes[32..].copy_from_slice(&sum);
            let mut bad = items.clone();
            bad[1].1 = Signature::from_bytes(&bytes);
            assert!(!check(&vk, &bad));
            let msgs: Vec<&[u8]> = bad.iter().map(|(m, _)| &m[..]).collect();
            let sigs: Vec<Signature> = bad.iter().map(|(_, s)| *s).collect();
            assert!(ed25519_dalek::verify_batch(&msgs, &sigs, &[vk; 3]).is_err());
        }
    }
}
