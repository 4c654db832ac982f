//! hashicorp/random: `random_string`, `random_password`, `random_id`,
//! `random_integer`, `random_pet`, `random_shuffle`, `random_uuid`. Every
//! argument forces replacement (as upstream); `keepers` exists only to do so.

use crate::Kind;
use crate::util::{b64, bool_arg, int_arg, invalid, list_arg, set, str_arg};
use async_trait::async_trait;
use base64::Engine as _;
use rand::Rng;
use rand::seq::SliceRandom;
use std::sync::OnceLock;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, CreateContext, ProviderError, ProviderSchema, Schema};

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const NUMERIC: &str = "0123456789";
const SPECIAL: &str = "!@#$%&*()-_=+[]{}<>:?";

fn keepers() -> Attribute {
    Attribute::optional(AttrType::map_of(AttrType::String))
        .force_new()
        .describe("Arbitrary values that, when changed, replace the resource.")
}

fn string_schema(sensitive: bool) -> Schema {
    let result = Attribute::computed(AttrType::String);
    let result = if sensitive {
        result.sensitive()
    } else {
        result
    };
    let flag = || {
        Attribute::optional(AttrType::Bool)
            .force_new()
            .default(true)
    };
    let min = || {
        Attribute::optional(AttrType::Number)
            .force_new()
            .default(0i64)
    };
    Schema::new()
        .attr("id", Attribute::computed(AttrType::String))
        .attr("keepers", keepers())
        .attr("length", Attribute::required(AttrType::Number).force_new())
        .attr("lower", flag())
        .attr("upper", flag())
        .attr("numeric", flag())
        .attr("number", flag())
        .attr("special", flag())
        .attr("min_lower", min())
        .attr("min_upper", min())
        .attr("min_numeric", min())
        .attr("min_special", min())
        .attr(
            "override_special",
            Attribute::optional(AttrType::String).force_new(),
        )
        .attr("result", result)
}

fn schema() -> &'static ProviderSchema {
    static S: OnceLock<ProviderSchema> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = ProviderSchema::default();
        let r = &mut s.resources;
        r.insert("random_string".into(), string_schema(false));
        r.insert("random_password".into(), string_schema(true));
        r.insert(
            "random_id".into(),
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("keepers", keepers())
                .attr(
                    "byte_length",
                    Attribute::required(AttrType::Number).force_new(),
                )
                .attr("prefix", Attribute::optional(AttrType::String).force_new())
                .attr("b64_url", Attribute::computed(AttrType::String))
                .attr("b64_std", Attribute::computed(AttrType::String))
                .attr("hex", Attribute::computed(AttrType::String))
                .attr("dec", Attribute::computed(AttrType::String)),
        );
        r.insert(
            "random_integer".into(),
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("keepers", keepers())
                .attr("min", Attribute::required(AttrType::Number).force_new())
                .attr("max", Attribute::required(AttrType::Number).force_new())
                .attr("seed", Attribute::optional(AttrType::String).force_new())
                .attr("result", Attribute::computed(AttrType::Number)),
        );
        r.insert(
            "random_pet".into(),
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("keepers", keepers())
                .attr(
                    "length",
                    Attribute::optional(AttrType::Number)
                        .force_new()
                        .default(2i64),
                )
                .attr("prefix", Attribute::optional(AttrType::String).force_new())
                .attr(
                    "separator",
                    Attribute::optional(AttrType::String)
                        .force_new()
                        .default("-"),
                ),
        );
        r.insert(
            "random_shuffle".into(),
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("keepers", keepers())
                .attr(
                    "input",
                    Attribute::required(AttrType::list_of(AttrType::String)).force_new(),
                )
                .attr(
                    "result_count",
                    Attribute::optional(AttrType::Number).force_new(),
                )
                .attr("seed", Attribute::optional(AttrType::String).force_new())
                .attr(
                    "result",
                    Attribute::computed(AttrType::list_of(AttrType::String)),
                ),
        );
        r.insert(
            "random_uuid".into(),
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("keepers", keepers())
                .attr("result", Attribute::computed(AttrType::String)),
        );
        s
    })
}

pub struct Random;

#[async_trait]
impl Kind for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn schema(&self) -> &ProviderSchema {
        schema()
    }

    async fn create(
        &self,
        type_name: &str,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        let mut v = planned.clone();
        match type_name {
            "random_string" | "random_password" => {
                let result = random_string(planned)?;
                set(&mut v, "result", result.clone());
                let id = if type_name == "random_password" {
                    "none".to_string()
                } else {
                    result
                };
                set(&mut v, "id", id);
            }
            "random_id" => {
                let n = int_arg(planned, "byte_length").unwrap_or(0);
                if n < 1 {
                    return Err(invalid("byte_length", "byte_length must be at least 1"));
                }
                let bytes: Vec<u8> = (0..n).map(|_| rand::thread_rng().r#gen()).collect();
                fill_id(&mut v, &bytes, str_arg(planned, "prefix").unwrap_or(""));
            }
            "random_integer" => {
                let (min, max) = (int_arg(planned, "min"), int_arg(planned, "max"));
                let (Some(min), Some(max)) = (min, max) else {
                    return Err(invalid("min", "min and max must be whole numbers"));
                };
                if max < min {
                    return Err(invalid(
                        "max",
                        format!("max ({max}) must be greater than or equal to min ({min})"),
                    ));
                }
                let n = match str_arg(planned, "seed") {
                    Some(seed) => seeded(seed).gen_range(min..=max),
                    None => rand::thread_rng().gen_range(min..=max),
                };
                set(&mut v, "result", n);
                set(&mut v, "id", n.to_string());
            }
            "random_pet" => {
                let length = int_arg(planned, "length").unwrap_or(2);
                if length < 1 {
                    return Err(invalid("length", "length must be at least 1"));
                }
                let sep = str_arg(planned, "separator").unwrap_or("-");
                let mut words: Vec<String> = Vec::new();
                if let Some(p) = str_arg(planned, "prefix") {
                    words.push(p.to_string());
                }
                words.push(pet_name(length as u8, sep));
                set(&mut v, "id", words.join(sep));
            }
            "random_shuffle" => {
                let mut input: Vec<Value> = list_arg(planned, "input").to_vec();
                match str_arg(planned, "seed") {
                    Some(seed) => input.shuffle(&mut seeded(seed)),
                    None => input.shuffle(&mut rand::thread_rng()),
                }
                let count = int_arg(planned, "result_count").unwrap_or(input.len() as i64);
                if count < 0 {
                    return Err(invalid("result_count", "result_count must not be negative"));
                }
                // Upstream repeats the shuffled input when more are asked for.
                let result: Vec<Value> = if input.is_empty() {
                    Vec::new()
                } else {
                    (0..count as usize)
                        .map(|i| input[i % input.len()].clone())
                        .collect()
                };
                set(&mut v, "result", Value::List(result));
                set(&mut v, "id", "-");
            }
            "random_uuid" => {
                let u = uuid::Uuid::new_v4().to_string();
                set(&mut v, "result", u.clone());
                set(&mut v, "id", u);
            }
            other => return Err(crate::unsupported_resource("random", other)),
        }
        Ok(v)
    }

    async fn import(&self, type_name: &str, id: &str) -> Result<Option<Value>, ProviderError> {
        let schema = &schema().resources[type_name];
        let mut v =
            terrace_provider::plan_with_schema(schema, None, &Value::map::<&str>([])).planned;
        match type_name {
            "random_string" | "random_password" => {
                set(&mut v, "result", id);
                set(&mut v, "length", id.chars().count() as i64);
                let id_value = if type_name == "random_password" {
                    "none"
                } else {
                    id
                };
                set(&mut v, "id", id_value);
            }
            "random_id" => {
                // `B64URL` or `PREFIX,B64URL`, as upstream.
                let (prefix, b) = match id.split_once(',') {
                    Some((p, b)) => (p, b),
                    None => ("", id),
                };
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(b)
                    .map_err(|e| {
                        ProviderError::Unsupported(format!(
                            "random_id import ID {id:?} is not base64url ({e}); use B64_URL or PREFIX,B64_URL"
                        ))
                    })?;
                set(&mut v, "byte_length", bytes.len() as i64);
                if !prefix.is_empty() {
                    set(&mut v, "prefix", prefix);
                }
                fill_id(&mut v, &bytes, prefix);
            }
            "random_integer" => {
                // `RESULT,MIN,MAX` or `RESULT,MIN,MAX,SEED`.
                let parts: Vec<&str> = id.split(',').collect();
                let nums: Option<Vec<i64>> = parts
                    .iter()
                    .take(3)
                    .map(|p| p.trim().parse().ok())
                    .collect();
                let (Some(nums), 3 | 4) = (nums, parts.len()) else {
                    return Err(ProviderError::Unsupported(format!(
                        "random_integer import ID {id:?} must be RESULT,MIN,MAX or RESULT,MIN,MAX,SEED"
                    )));
                };
                set(&mut v, "result", nums[0]);
                set(&mut v, "id", nums[0].to_string());
                set(&mut v, "min", nums[1]);
                set(&mut v, "max", nums[2]);
                if let Some(seed) = parts.get(3) {
                    set(&mut v, "seed", *seed);
                }
            }
            "random_uuid" => {
                let u = uuid::Uuid::parse_str(id).map_err(|e| {
                    ProviderError::Unsupported(format!(
                        "random_uuid import ID {id:?} is not a UUID: {e}"
                    ))
                })?;
                set(&mut v, "result", u.to_string());
                set(&mut v, "id", u.to_string());
            }
            other => {
                return Err(ProviderError::Unsupported(format!(
                    "{other} cannot be imported (hashicorp/random does not support it either); declare it and let apply create it"
                )));
            }
        }
        Ok(Some(v))
    }
}

fn seeded(seed: &str) -> rand::rngs::StdRng {
    use rand::SeedableRng;
    let digest = crate::util::sha256(seed.as_bytes());
    let mut s = [0u8; 32];
    s.copy_from_slice(&digest);
    rand::rngs::StdRng::from_seed(s)
}

fn fill_id(v: &mut Value, bytes: &[u8], prefix: &str) {
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    set(v, "id", url.clone());
    set(v, "b64_url", format!("{prefix}{url}"));
    set(v, "b64_std", format!("{prefix}{}", b64(bytes)));
    set(v, "hex", format!("{prefix}{}", hex::encode(bytes)));
    set(v, "dec", format!("{prefix}{}", big_decimal(bytes)));
}

/// The unsigned big-endian integer `bytes` in decimal.
fn big_decimal(bytes: &[u8]) -> String {
    // Base 10^9 limbs, least significant first.
    let mut limbs: Vec<u64> = vec![0];
    for &b in bytes {
        let mut carry = b as u64;
        for l in limbs.iter_mut() {
            let x = *l * 256 + carry;
            *l = x % 1_000_000_000;
            carry = x / 1_000_000_000;
        }
        while carry > 0 {
            limbs.push(carry % 1_000_000_000);
            carry /= 1_000_000_000;
        }
    }
    let mut s = limbs.last().copied().unwrap_or(0).to_string();
    for l in limbs.iter().rev().skip(1) {
        s.push_str(&format!("{l:09}"));
    }
    s
}

fn pet_name(words: u8, sep: &str) -> String {
    let mut rng = rand::thread_rng();
    use petname::Generator as _;
    petname::Petnames::default()
        .generate(&mut rng, words, sep)
        .unwrap_or_else(|| "pet".to_string())
}

fn random_string(cfg: &Value) -> Result<String, ProviderError> {
    let length = int_arg(cfg, "length").ok_or_else(|| invalid("length", "length is required"))?;
    if length < 1 {
        return Err(invalid(
            "length",
            format!("length must be at least 1, got {length}"),
        ));
    }
    let special_chars = str_arg(cfg, "override_special").unwrap_or(SPECIAL);
    let numeric = bool_arg(cfg, "numeric", true) && bool_arg(cfg, "number", true);
    let classes = [
        (bool_arg(cfg, "lower", true), LOWER, "min_lower"),
        (bool_arg(cfg, "upper", true), UPPER, "min_upper"),
        (numeric, NUMERIC, "min_numeric"),
        (bool_arg(cfg, "special", true), special_chars, "min_special"),
    ];
    let mut min_total = 0i64;
    let mut out: Vec<char> = Vec::new();
    let mut pool: Vec<char> = Vec::new();
    let mut rng = rand::thread_rng();
    for (enabled, chars, min_key) in classes {
        let min = int_arg(cfg, min_key).unwrap_or(0);
        if min < 0 {
            return Err(invalid(min_key, format!("{min_key} must not be negative")));
        }
        let set: Vec<char> = chars.chars().collect();
        if min > 0 {
            if set.is_empty() {
                return Err(invalid(
                    min_key,
                    format!("{min_key} is {min} but override_special is empty"),
                ));
            }
            min_total += min;
            for _ in 0..min {
                out.push(set[rng.gen_range(0..set.len())]);
            }
        }
        if enabled {
            pool.extend(set);
        }
    }
    if min_total > length {
        return Err(invalid(
            "length",
            format!("length ({length}) is less than the sum of the min_* arguments ({min_total})"),
        ));
    }
    if pool.is_empty() && (out.len() as i64) < length {
        return Err(invalid(
            "length",
            "every character class is disabled (lower, upper, numeric and special are all false)",
        ));
    }
    while (out.len() as i64) < length {
        out.push(pool[rng.gen_range(0..pool.len())]);
    }
    out.shuffle(&mut rng);
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_decimal_matches_known_values() {
        assert_eq!(big_decimal(&[0]), "0");
        assert_eq!(big_decimal(&[1, 0]), "256");
        assert_eq!(
            big_decimal(&[0xff; 16]),
            "340282366920938463463374607431768211455"
        );
    }

    #[test]
    fn random_string_honours_classes_and_minimums() {
        let cfg = Value::map([
            ("length", Value::from(40i64)),
            ("upper", Value::Bool(false)),
            ("special", Value::Bool(false)),
            ("min_numeric", Value::from(5i64)),
        ]);
        let s = random_string(&cfg).unwrap();
        assert_eq!(s.len(), 40);
        assert!(
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{s}"
        );
        assert!(s.chars().filter(char::is_ascii_digit).count() >= 5, "{s}");
        let too_short = Value::map([
            ("length", Value::from(2i64)),
            ("min_upper", Value::from(3i64)),
        ]);
        let e = random_string(&too_short).unwrap_err();
        assert!(e.to_string().contains("less than the sum"), "{e}");
    }
}
