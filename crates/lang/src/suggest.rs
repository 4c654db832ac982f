//! "Did you mean …?" suggestions.

/// The closest candidate to `given`, if it is close enough to be a likely typo.
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        if c == given {
            continue;
        }
        let d = strsim::levenshtein(given, c);
        let limit = (given.len().max(c.len()) / 3).max(2);
        if d > limit {
            continue;
        }
        let score = strsim::jaro_winkler(given, c);
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

/// ` Did you mean "x"?` or an empty string.
pub fn did_you_mean<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(given, candidates)
        .map(|c| format!(" Did you mean \"{c}\"?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_only() {
        assert_eq!(
            closest("instnce_type", ["ami", "instance_type", "tags"]),
            Some("instance_type")
        );
        assert_eq!(closest("zzz", ["ami", "instance_type"]), None);
    }
}
