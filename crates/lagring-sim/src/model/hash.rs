//! Stable hashing (FNV-1a + splitmix finaliser) for every "random" choice, so the same seed gives
//! the same cluster on every machine and every run.

/// Hash a seed and a list of words to 64 bits.
pub fn mix(seed: u64, words: &[u64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for w in words {
        for byte in w.to_le_bytes() {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    splitmix(h)
}

/// Hash a string to a word usable in `mix`.
pub fn str_word(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in s.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A uniform value in [0, 1).
pub fn unit(seed: u64, words: &[u64]) -> f64 {
    (mix(seed, words) >> 11) as f64 / (1u64 << 53) as f64
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_values_do_not_change() {
        assert_eq!(str_word("group-1"), 79_348_966_876_698_182);
        assert!((0.0..1.0).contains(&unit(1, &[2, 3])));
        assert_eq!(mix(0, &[1]), mix(0, &[1]));
        assert_ne!(mix(0, &[1]), mix(1, &[1]));
    }
}
