//! Small helpers shared by the utility providers: reading arguments out of
//! objects, setting computed values, argument errors, digests.

use base64::Engine as _;
use sha1::Digest as _;
use terrace_core::{PathStep, Value};
use terrace_provider::ProviderError;

/// A string argument (None when null or unknown).
pub fn str_arg<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).map(Value::unmarked).and_then(Value::as_str)
}

/// A bool argument with a default for null.
pub fn bool_arg(v: &Value, key: &str, default: bool) -> bool {
    v.get(key)
        .map(Value::unmarked)
        .and_then(Value::as_bool)
        .unwrap_or(default)
}

/// A whole-number argument.
pub fn int_arg(v: &Value, key: &str) -> Option<i64> {
    v.get(key).map(Value::unmarked).and_then(Value::as_i64)
}

/// A list argument (empty when null).
pub fn list_arg<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .map(Value::unmarked)
        .and_then(Value::as_list)
        .unwrap_or(&[])
}

/// Set `key` of an object value.
pub fn set(obj: &mut Value, key: &str, value: impl Into<Value>) {
    if let Some(m) = obj.as_map_mut() {
        m.insert(key.to_string(), value.into());
    }
}

/// `planned` with every unknown attribute taken from `prior`.
pub fn fill_unknown_from(planned: &Value, prior: &Value) -> Value {
    let mut out = planned.clone();
    if let Some(m) = out.as_map_mut() {
        for (k, v) in m.iter_mut() {
            if v.is_unknown()
                && let Some(p) = prior.get(k)
            {
                *v = p.clone();
            }
        }
    }
    out
}

/// An error about one argument, rendered at its line in the configuration.
pub fn invalid(key: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::InvalidArgument {
        path: Some(vec![PathStep::Key(key.to_string())]),
        code: "InvalidArgument".into(),
        message: message.into(),
    }
}

/// Argument for an error that is no single argument's fault.
pub fn failed(code: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::Api {
        code: code.into(),
        message: message.into(),
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(bytes))
}

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(bytes).to_vec()
}

pub fn sha512(bytes: &[u8]) -> Vec<u8> {
    sha2::Sha512::digest(bytes).to_vec()
}

pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(md5::Md5::digest(bytes))
}

/// The digests hashicorp/local and hashicorp/archive export for a content.
pub fn content_digests(bytes: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("md5", md5_hex(bytes)),
        ("sha1", sha1_hex(bytes)),
        ("sha256", hex::encode(sha256(bytes))),
        ("base64sha256", b64(&sha256(bytes))),
        ("sha512", hex::encode(sha512(bytes))),
        ("base64sha512", b64(&sha512(bytes))),
    ]
}

/// Map-of-string argument as pairs (null → empty).
pub fn string_map(v: &Value, key: &str) -> Vec<(String, String)> {
    v.get(key)
        .map(Value::unmarked)
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .map(|(k, x)| {
                    (
                        k.clone(),
                        x.unmarked()
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
