//! `--shard K/N`: split a fleet of environments deterministically across N
//! workers (a Kubernetes Indexed Job, a CI matrix), so `drift --all` and
//! `env gc` run in parallel on as many machines as a team has, with no
//! coordination between them.
//!
//! Environment `name` belongs to shard `fnv1a64(name) % N + 1`, where
//! `fnv1a64` is the 64-bit FNV-1a hash of the name's UTF-8 bytes (offset
//! basis 0xcbf29ce484222325, prime 0x100000001b3). It depends on the name
//! alone — not on the order of listing, the number of environments or the
//! machine — so every worker computes the same split, an environment stays
//! on its shard while others come and go, and the N shards are disjoint and
//! together cover every environment.

use anyhow::{Result, bail};

/// One worker's share of the environments: shard `k` of `n` (1 ≤ k ≤ n).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: u32,
    pub n: u32,
}

/// The 64-bit FNV-1a hash of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Shard {
    /// Parse `K/N` (e.g. `2/4`); `flag` names the flag in errors.
    pub fn parse(text: &str, flag: &str) -> Result<Shard> {
        let usage = |why: &str| {
            anyhow::anyhow!(
                "{flag} {text:?}: {why}; write K/N with 1 ≤ K ≤ N, e.g. {flag} 2/4 for the second of four \
                 workers (a Kubernetes Indexed Job passes $((JOB_COMPLETION_INDEX + 1))/N)"
            )
        };
        let Some((k, n)) = text.trim().split_once('/') else {
            return Err(usage("no '/' between K and N"));
        };
        let (Ok(k), Ok(n)) = (k.trim().parse::<u32>(), n.trim().parse::<u32>()) else {
            return Err(usage("K and N must be whole numbers"));
        };
        if n == 0 {
            return Err(usage("N must be at least 1"));
        }
        if k == 0 || k > n {
            return Err(usage(&format!("K must be between 1 and {n}")));
        }
        Ok(Shard { k, n })
    }

    /// The shard (1..=n) that `env` belongs to among `n`.
    pub fn of(env: &str, n: u32) -> u32 {
        (fnv1a64(env.as_bytes()) % u64::from(n.max(1))) as u32 + 1
    }

    pub fn contains(&self, env: &str) -> bool {
        Shard::of(env, self.n) == self.k
    }
}

/// `names` restricted to `shard` (all of them without one).
pub fn select(names: Vec<String>, shard: Option<Shard>) -> Vec<String> {
    match shard {
        None => names,
        Some(s) => names.into_iter().filter(|n| s.contains(n)).collect(),
    }
}

/// Parse an optional `--shard` value.
pub fn parse_opt(text: Option<&str>, flag: &str) -> Result<Option<Shard>> {
    text.map(|t| Shard::parse(t, flag)).transpose()
}

/// Refuse `--shard` where it has nothing to split.
pub fn require_all(shard: Option<Shard>, all: bool, command: &str) -> Result<()> {
    if shard.is_some() && !all {
        bail!(
            "--shard splits the environments of `{command} --all` across workers; add --all (or drop --shard to \
             check one environment with -e)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        let names: Vec<String> = (0..1000)
            .map(|i| format!("pr-{i}"))
            .chain(["dev", "stage", "prod", "é-ü", "a.b_c"].map(String::from))
            .collect();
        for n in [1u32, 2, 3, 4, 7, 16] {
            let mut seen = std::collections::BTreeMap::new();
            for k in 1..=n {
                for name in select(names.clone(), Some(Shard { k, n })) {
                    assert!(
                        seen.insert(name.clone(), k).is_none(),
                        "{name} is in two of {n} shards"
                    );
                }
            }
            assert_eq!(seen.len(), names.len(), "{n} shards miss environments");
            // Roughly even: no shard holds more than twice its share.
            for k in 1..=n {
                let count = seen.values().filter(|v| **v == k).count();
                assert!(
                    count <= 2 * names.len() / n as usize + 1,
                    "{k}/{n}: {count}"
                );
            }
        }
    }

    #[test]
    fn the_split_is_stable_and_documented() {
        // FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
        // A name's shard does not depend on the other names.
        let alone = select(
            vec!["pr-42".into()],
            Some(Shard {
                k: Shard::of("pr-42", 4),
                n: 4,
            }),
        );
        assert_eq!(alone, ["pr-42"]);
        assert_eq!(Shard::of("anything", 1), 1);
    }

    #[test]
    fn bad_shards_are_clear_errors() {
        assert_eq!(
            Shard::parse("2/4", "--shard").unwrap(),
            Shard { k: 2, n: 4 }
        );
        assert_eq!(
            Shard::parse(" 1/1 ", "--shard").unwrap(),
            Shard { k: 1, n: 1 }
        );
        for (bad, why) in [
            ("0/4", "between 1 and 4"),
            ("5/4", "between 1 and 4"),
            ("1/0", "N must be at least 1"),
            ("2", "no '/'"),
            ("a/b", "whole numbers"),
            ("-1/4", "whole numbers"),
        ] {
            let err = Shard::parse(bad, "--shard").unwrap_err().to_string();
            assert!(err.contains(why) && err.contains("K/N"), "{bad}: {err}");
        }
        assert!(require_all(Some(Shard { k: 1, n: 2 }), false, "drift").is_err());
        assert!(require_all(None, false, "drift").is_ok());
    }
}
