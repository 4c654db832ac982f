//! The later Terraform 1.x functions: `base64gzip`, `textencodebase64`,
//! `textdecodebase64`, `bcrypt`, `rsadecrypt`, `plantimestamp` and
//! `ephemeralasnull`. (`templatestring` and `convert` need the evaluator and
//! live in terrace-lang.)

use crate::args::Args;
use crate::{FuncContext, FuncError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::io::Write;
use terrace_core::Value;

type R = Result<Value, FuncError>;

/// gzip, then base64: for `user_data` and other size-limited fields.
pub(crate) fn base64gzip(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(s.as_bytes())
        .and_then(|_| enc.finish())
        .map(|bytes| Value::string(STANDARD.encode(bytes)))
        .map_err(|e| a.error(0, format!("failed to compress: {e}")))
}

/// The encodings `textencodebase64` / `textdecodebase64` know, by
/// normalised IANA name.
#[derive(Clone, Copy)]
enum TextEncoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    Latin1,
    Ascii,
}

const KNOWN_ENCODINGS: &str = "UTF-8, UTF-16LE, UTF-16BE, ISO-8859-1, US-ASCII";

fn encoding(a: &Args<'_>, i: usize) -> Result<TextEncoding, FuncError> {
    let name = a.string(i)?;
    let norm: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase();
    Ok(match norm.as_str() {
        "UTF8" => TextEncoding::Utf8,
        "UTF16LE" => TextEncoding::Utf16Le,
        "UTF16BE" => TextEncoding::Utf16Be,
        "ISO88591" | "LATIN1" | "L1" => TextEncoding::Latin1,
        "USASCII" | "ASCII" => TextEncoding::Ascii,
        _ => {
            return Err(a.error(
                i,
                format!(
                    "{} is not a supported IANA encoding name; use one of {KNOWN_ENCODINGS}",
                    a.quote(i, &name)
                ),
            ));
        }
    })
}

pub(crate) fn textencodebase64(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let enc = encoding(a, 1)?;
    let bytes: Vec<u8> = match enc {
        TextEncoding::Utf8 => s.into_bytes(),
        TextEncoding::Utf16Le => s.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        TextEncoding::Utf16Be => s.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        TextEncoding::Latin1 | TextEncoding::Ascii => {
            let max = if matches!(enc, TextEncoding::Ascii) {
                0x7f
            } else {
                0xff
            };
            let mut out = Vec::with_capacity(s.len());
            for c in s.chars() {
                if (c as u32) > max {
                    return Err(a.error(
                        0,
                        format!(
                            "the given string contains {c:?}, which cannot be represented in {}",
                            a.string(1)?
                        ),
                    ));
                }
                out.push(c as u8);
            }
            out
        }
    };
    Ok(Value::string(STANDARD.encode(bytes)))
}

pub(crate) fn textdecodebase64(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let enc = encoding(a, 1)?;
    let bytes = STANDARD.decode(s.as_bytes()).map_err(|_| {
        a.error(
            0,
            format!("failed to decode base64 data {}", a.quote(0, &s)),
        )
    })?;
    let bad = || {
        a.error(
            0,
            format!(
                "the decoded bytes are not valid {}",
                a.string(1).unwrap_or_default()
            ),
        )
    };
    let text = match enc {
        TextEncoding::Utf8 => String::from_utf8(bytes).map_err(|_| bad())?,
        TextEncoding::Utf16Le | TextEncoding::Utf16Be => {
            if bytes.len() % 2 != 0 {
                return Err(bad());
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| match enc {
                    TextEncoding::Utf16Le => u16::from_le_bytes([c[0], c[1]]),
                    _ => u16::from_be_bytes([c[0], c[1]]),
                })
                .collect();
            String::from_utf16(&units).map_err(|_| bad())?
        }
        TextEncoding::Latin1 => bytes.iter().map(|b| *b as char).collect(),
        TextEncoding::Ascii => {
            if bytes.iter().any(|b| *b > 0x7f) {
                return Err(bad());
            }
            bytes.iter().map(|b| *b as char).collect()
        }
    };
    Ok(Value::string(text))
}

/// A bcrypt hash (random salt, so impure); cost defaults to 10 as in Terraform.
pub(crate) fn bcrypt(a: &Args<'_>, _: &FuncContext) -> R {
    let s = a.string(0)?;
    let cost = if a.len() > 1 { a.int(1)? } else { 10 };
    if !(4..=31).contains(&cost) {
        return Err(a.error(
            1,
            format!("the cost must be between 4 and 31, but is {cost}"),
        ));
    }
    bcrypt::hash(s, cost as u32)
        .map(Value::string)
        .map_err(|e| a.error(0, format!("failed to hash: {e}")))
}

/// Decrypt base64 RSA (PKCS #1 v1.5) ciphertext with a PEM private key
/// (PKCS #1 `RSA PRIVATE KEY` or PKCS #8 `PRIVATE KEY`).
pub(crate) fn rsadecrypt(a: &Args<'_>, _: &FuncContext) -> R {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let ct = a.string(0)?;
    let pem = a.string(1)?;
    let bytes = STANDARD
        .decode(ct.trim().as_bytes())
        .map_err(|_| a.error(0, "the ciphertext is not valid base64"))?;
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(&pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(&pem))
        .map_err(|_| {
            a.error(
                1,
                "failed to parse the key: expected a PEM-encoded RSA private key (-----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----)",
            )
        })?;
    let plain = key.decrypt(rsa::Pkcs1v15Encrypt, &bytes).map_err(|_| {
        a.error(
            0,
            "failed to decrypt: the ciphertext does not match the key",
        )
    })?;
    String::from_utf8(plain)
        .map(Value::string)
        .map_err(|_| a.error(0, "the decrypted data is not valid UTF-8"))
}

static PLAN_TIME: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The time the plan was made: fixed for the whole run (every call in one
/// plan returns the same value), unlike `timestamp`.
pub(crate) fn plantimestamp(_: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::string(
        PLAN_TIME
            .get_or_init(|| chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .clone(),
    ))
}

/// terrace has no ephemeral values, so every value passes through unchanged.
pub(crate) fn ephemeralasnull(a: &Args<'_>, _: &FuncContext) -> R {
    Ok(a.get(0).clone())
}

#[cfg(test)]
mod tests {
    use crate::{FuncContext, call};
    use terrace_core::Value;

    fn s(x: &str) -> Value {
        Value::string(x.to_string())
    }

    fn ok(name: &str, args: Vec<Value>) -> Value {
        call(name, args, &FuncContext::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn err(name: &str, args: Vec<Value>) -> String {
        call(name, args, &FuncContext::default())
            .expect_err(name)
            .to_string()
    }

    #[test]
    fn base64gzip_round_trips_through_gunzip() {
        use base64::Engine;
        use std::io::Read;
        let Value::String(b) = ok("base64gzip", vec![s("hello world")]) else {
            panic!()
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b.as_bytes())
            .unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello world");
    }

    #[test]
    fn textencodebase64_and_back() {
        // Terraform's documented example.
        assert_eq!(
            ok("textencodebase64", vec![s("Hello World"), s("UTF-16LE")]),
            s("SABlAGwAbABvACAAVwBvAHIAbABkAA==")
        );
        assert_eq!(
            ok(
                "textdecodebase64",
                vec![s("SABlAGwAbABvACAAVwBvAHIAbABkAA=="), s("UTF-16LE")]
            ),
            s("Hello World")
        );
        assert_eq!(
            ok("textencodebase64", vec![s("é"), s("ISO-8859-1")]),
            s("6Q==")
        );
        let e = err("textencodebase64", vec![s("x"), s("EBCDIC")]);
        assert!(e.contains("not a supported IANA encoding name"), "{e}");
        let e = err("textencodebase64", vec![s("é"), s("US-ASCII")]);
        assert!(e.contains("cannot be represented"), "{e}");
        let e = err("textdecodebase64", vec![s("/w=="), s("UTF-8")]);
        assert!(e.contains("not valid UTF-8"), "{e}");
    }

    #[test]
    fn bcrypt_hash_verifies_and_cost_is_checked() {
        let Value::String(h) = ok("bcrypt", vec![s("secret"), Value::from(4.0)]) else {
            panic!()
        };
        assert!(h.starts_with("$2"), "{h}");
        assert!(bcrypt::verify("secret", &h).unwrap());
        let e = err("bcrypt", vec![s("secret"), Value::from(40.0)]);
        assert!(e.contains("between 4 and 31"), "{e}");
    }

    #[test]
    fn rsadecrypt_decrypts_pkcs1v15() {
        use base64::Engine;
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let mut rng = rand::thread_rng();
        let key = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
        let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let ct = rsa::RsaPublicKey::from(&key)
            .encrypt(&mut rng, rsa::Pkcs1v15Encrypt, b"s3cret")
            .unwrap();
        let ct = base64::engine::general_purpose::STANDARD.encode(ct);
        assert_eq!(ok("rsadecrypt", vec![s(&ct), s(pem.as_str())]), s("s3cret"));
        let e = err("rsadecrypt", vec![s(&ct), s("not a key")]);
        assert!(e.contains("PEM-encoded RSA private key"), "{e}");
        let e = err("rsadecrypt", vec![s("!!"), s(pem.as_str())]);
        assert!(e.contains("not valid base64"), "{e}");
    }

    #[test]
    fn plantimestamp_is_fixed_for_the_run_and_ephemeralasnull_passes_through() {
        let a = ok("plantimestamp", vec![]);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(ok("plantimestamp", vec![]), a);
        let Value::String(t) = a else { panic!() };
        assert!(chrono::DateTime::parse_from_rfc3339(&t).is_ok(), "{t}");
        assert_eq!(ok("ephemeralasnull", vec![s("x")]), s("x"));
    }
}
