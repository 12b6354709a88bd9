//! Hash maps with a fixed, cheap hasher for the model's internal indexes.
//!
//! std's default hasher (SipHash with random keys) is built to resist
//! adversarial keys, which a simulator's own object names and uids are not;
//! on the hot paths (label and uid indexes) it cost several percent of a
//! run. This hasher mixes one 64-bit word at a time with a rotate, an xor
//! and a multiply. Its keys are fixed, so the maps behave the same on every
//! run; their iteration order still never reaches an output (the model
//! iterates `BTreeMap`s where order matters).

use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`WordHasher`].
pub type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<WordHasher>>;
/// A `HashSet` with [`WordHasher`].
pub type HashSet<K> = std::collections::HashSet<K, BuildHasherDefault<WordHasher>>;

/// The multiplier: an odd constant with well-spread bits.
const K: u64 = 0xf135_7aea_2e62_a9c5;

/// A fast non-cryptographic hasher over 64-bit words.
#[derive(Clone, Copy, Default)]
pub struct WordHasher {
    hash: u64,
}

impl WordHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(26) ^ word).wrapping_mul(K);
    }
}

/// The last 1 to 7 bytes `rest` of `bytes` as a little-endian word padded
/// with zeros, read without a copy through a buffer: from the word that
/// ends them when there is one, else from two overlapping halves or single
/// bytes.
#[inline(always)]
fn tail_word(bytes: &[u8], rest: &[u8]) -> u64 {
    let r = rest.len();
    let n = bytes.len();
    if n >= 8 {
        let w = u64::from_le_bytes(bytes[n - 8..].try_into().expect("8 bytes"));
        return w >> ((8 - r) * 8);
    }
    if r >= 4 {
        let a = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
        let b = u32::from_le_bytes(rest[r - 4..].try_into().expect("4 bytes"));
        return u64::from(a) | (u64::from(b) << ((r - 4) * 8));
    }
    u64::from(rest[0])
        | (u64::from(rest[r / 2]) << (r / 2 * 8))
        | (u64::from(rest[r - 1]) << ((r - 1) * 8))
}

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(tail_word(bytes, rest));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // A last mix, so that the high bits (which the table uses for its
        // control bytes) depend on every input bit.
        let h = self.hash;
        (h ^ (h >> 29)).wrapping_mul(K) ^ (h >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn hash<T: std::hash::Hash>(t: &T) -> u64 {
        BuildHasherDefault::<WordHasher>::default().hash_one(t)
    }

    #[test]
    fn equal_keys_hash_equal_and_near_keys_differ() {
        assert_eq!(hash(&"app-1-abcde"), hash(&String::from("app-1-abcde")));
        // Keys that differ in one byte, in length, or in where a string
        // ends inside a tuple all hash apart.
        let keys = [
            hash(&"app-1-abcde"),
            hash(&"app-1-abcdf"),
            hash(&"app-1-abcd"),
            hash(&("ab", "c")),
            hash(&("a", "bc")),
            hash(&1u64),
            hash(&2u64),
        ];
        let distinct: std::collections::BTreeSet<u64> = keys.iter().copied().collect();
        assert_eq!(distinct.len(), keys.len());
    }

    #[test]
    fn sequential_uids_spread_over_the_high_bits() {
        // hashbrown picks a bucket from the low bits and a tag from the top
        // seven: both must vary over consecutive uids.
        let tops: std::collections::BTreeSet<u64> = (0..1000u64).map(|u| hash(&u) >> 57).collect();
        let lows: std::collections::BTreeSet<u64> = (0..1000u64).map(|u| hash(&u) & 1023).collect();
        assert!(tops.len() > 100, "{}", tops.len());
        assert!(lows.len() > 500, "{}", lows.len());
    }

    /// The tail word is the zero-padded copy it replaces, for every
    /// length and every byte value.
    #[test]
    fn tail_words_are_the_zero_padded_rest() {
        for len in 1..40usize {
            for v in [1u8, 0x80, 0xff] {
                let bytes: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(37) ^ v).collect();
                let rest = bytes.chunks_exact(8).remainder();
                if rest.is_empty() {
                    continue;
                }
                let mut last = [0u8; 8];
                last[..rest.len()].copy_from_slice(rest);
                assert_eq!(
                    tail_word(&bytes, rest),
                    u64::from_le_bytes(last),
                    "{bytes:?}"
                );
            }
        }
    }

    #[test]
    fn a_map_works_as_a_map() {
        let mut m: HashMap<String, u32> = HashMap::default();
        for i in 0..10_000u32 {
            m.insert(format!("pod-{i}"), i);
        }
        assert_eq!(m.len(), 10_000);
        assert!((0..10_000u32).all(|i| m[&format!("pod-{i}")] == i));
    }
}
