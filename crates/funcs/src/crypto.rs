//! Hash and UUID functions.

use crate::args::Args;
use crate::{FuncContext, FuncError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use terrace_core::Value;

type R = Result<Value, FuncError>;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Hash {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

pub(crate) fn digest(hash: Hash, data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Md5 => Md5::digest(data).to_vec(),
        Hash::Sha1 => Sha1::digest(data).to_vec(),
        Hash::Sha256 => Sha256::digest(data).to_vec(),
        Hash::Sha512 => Sha512::digest(data).to_vec(),
    }
}

fn hex_hash(a: &Args<'_>, hash: Hash) -> R {
    Ok(Value::string(hex::encode(digest(
        hash,
        a.string(0)?.as_bytes(),
    ))))
}

fn base64_hash(a: &Args<'_>, hash: Hash) -> R {
    Ok(Value::string(
        STANDARD.encode(digest(hash, a.string(0)?.as_bytes())),
    ))
}

pub(crate) fn md5(a: &Args<'_>, _: &FuncContext) -> R {
    hex_hash(a, Hash::Md5)
}

pub(crate) fn sha1(a: &Args<'_>, _: &FuncContext) -> R {
    hex_hash(a, Hash::Sha1)
}

pub(crate) fn sha256(a: &Args<'_>, _: &FuncContext) -> R {
    hex_hash(a, Hash::Sha256)
}

pub(crate) fn sha512(a: &Args<'_>, _: &FuncContext) -> R {
    hex_hash(a, Hash::Sha512)
}

pub(crate) fn base64sha256(a: &Args<'_>, _: &FuncContext) -> R {
    base64_hash(a, Hash::Sha256)
}

pub(crate) fn base64sha512(a: &Args<'_>, _: &FuncContext) -> R {
    base64_hash(a, Hash::Sha512)
}

pub(crate) fn uuid(_: &Args<'_>, _: &FuncContext) -> R {
    Ok(Value::string(uuid::Uuid::new_v4().to_string()))
}

/// A name-based (SHA-1, version 5) UUID per RFC 4122.
pub(crate) fn uuidv5(a: &Args<'_>, _: &FuncContext) -> R {
    let namespace = a.string(0)?;
    let name = a.string(1)?;
    let ns = match namespace.as_str() {
        "dns" => uuid::Uuid::from_u128(0x6ba7b810_9dad_11d1_80b4_00c04fd430c8),
        "url" => uuid::Uuid::from_u128(0x6ba7b811_9dad_11d1_80b4_00c04fd430c8),
        "oid" => uuid::Uuid::from_u128(0x6ba7b812_9dad_11d1_80b4_00c04fd430c8),
        "x500" => uuid::Uuid::from_u128(0x6ba7b814_9dad_11d1_80b4_00c04fd430c8),
        other => uuid::Uuid::parse_str(other).map_err(|e| {
            a.error(
                0,
                format!(
                    "uuidv5() doesn't support namespace {} ({e})",
                    a.quote(0, other)
                ),
            )
        })?,
    };
    let mut hasher = Sha1::new();
    hasher.update(ns.as_bytes());
    hasher.update(name.as_bytes());
    let sum = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&sum[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(Value::string(uuid::Uuid::from_bytes(bytes).to_string()))
}
