//! `required_version`: Terraform's version constraint syntax checked against
//! the Terraform language version terrace implements.
//!
//! Terraform's syntax is not semver's (`~>` is its pessimistic operator, a
//! bare version means `=`, `!=` exists), so the few operators are read here.

/// The Terraform language version terrace implements: Terraform 1.5.7, the
/// last MPL-licensed release and OpenTofu's starting point. A module's
/// `required_version` is checked against it.
pub const TERRAFORM_LANGUAGE_VERSION: &str = "1.5.7";

type Version = (u64, u64, u64);

fn parse_version(s: &str) -> Option<(Version, usize)> {
    let s = s.trim().trim_start_matches('v');
    // Pre-release and build suffixes are ignored (`1.6.0-beta1` → 1.6.0).
    let core = s.split(['-', '+']).next()?;
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut n = [0u64; 3];
    for (i, p) in parts.iter().enumerate() {
        n[i] = p.parse().ok()?;
    }
    Some(((n[0], n[1], n[2]), parts.len()))
}

/// Whether `version` satisfies the constraint string (`">= 1.3, < 2.0"`).
/// An unreadable constraint is an error naming the clause.
pub fn satisfies(constraint: &str, version: &str) -> Result<bool, String> {
    let (v, _) = parse_version(version).ok_or_else(|| format!("bad version {version:?}"))?;
    for clause in constraint.split(',') {
        let c = clause.trim();
        if c.is_empty() {
            continue;
        }
        let ops = ["~>", ">=", "<=", "!=", ">", "<", "="];
        let (op, rest) = ops
            .iter()
            .find_map(|op| c.strip_prefix(op).map(|r| (*op, r)))
            .unwrap_or(("=", c));
        let (want, parts) = parse_version(rest).ok_or_else(|| {
            format!("{c:?} is not a version constraint (expected e.g. \">= 1.3.0\" or \"~> 1.5\")")
        })?;
        let ok = match op {
            "=" => v == want,
            "!=" => v != want,
            ">" => v > want,
            ">=" => v >= want,
            "<" => v < want,
            "<=" => v <= want,
            // `~> 1` and `~> 1.5` allow 1.x (from 1.5); `~> 1.5.2` allows 1.5.x from 1.5.2.
            _ => {
                let upper = match parts {
                    1 | 2 => (want.0 + 1, 0, 0),
                    _ => (want.0, want.1 + 1, 0),
                };
                v >= want && v < upper
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terraform_constraint_syntax() {
        let v = TERRAFORM_LANGUAGE_VERSION;
        assert!(satisfies(">= 1.0", v).unwrap());
        assert!(satisfies(">= 1.3.0, < 2.0.0", v).unwrap());
        assert!(satisfies("~> 1.5", v).unwrap());
        assert!(satisfies("~> 1.5.0", v).unwrap());
        assert!(satisfies("1.5.7", v).unwrap());
        assert!(satisfies("= 1.5.7", v).unwrap());
        assert!(!satisfies("~> 1.4.0", v).unwrap());
        assert!(!satisfies(">= 1.9", v).unwrap());
        assert!(!satisfies("!= 1.5.7", v).unwrap());
        assert!(!satisfies("< 1.5", v).unwrap());
        assert!(!satisfies("1.5", v).unwrap());
        assert!(satisfies("~> 1", "1.9.0").unwrap());
        assert!(!satisfies("~> 1", "2.0.0").unwrap());
        assert!(satisfies(">= 1.6.0-beta1", "1.6.0").unwrap());
        let e = satisfies(">= one", v).unwrap_err();
        assert!(e.contains("\">= one\" is not a version constraint"), "{e}");
    }
}
