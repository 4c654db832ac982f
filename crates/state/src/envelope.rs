//! The stored form of a state version: the state JSON wrapped in an envelope
//! with a format version, the serial and lineage, who wrote it, a SHA-256
//! checksum, and optionally AES-256-GCM encryption of the state JSON.
//!
//! ```json
//! {"terrace_state": 1, "serial": 7, "lineage": "…", "written_at": "…",
//!  "operation": "apply", "who": "alice@ci-7",
//!  "encryption": null | {"algorithm": "AES-256-GCM", "key_id": "…", "nonce": "…",
//!                        "kdf": {"name": "argon2id", "salt": "…", "m_kib": 19456, "t": 2, "p": 1}
//!                             | {"name": "raw"}},
//!  "sha256": "<hex over version, serial, lineage and payload>",
//!  "payload": "<state JSON, or base64 ciphertext>"}
//! ```
//!
//! Encryption (envelopes with a `kdf`): the AES key is derived from the
//! passphrase with Argon2id, salted per writing process, with the salt and
//! cost parameters in the envelope — or it is a raw 256-bit key
//! (`TERRACE_STATE_KEY_FILE`, `"kdf": {"name": "raw"}`). The environment,
//! lineage and serial are the ciphertext's associated data, so a payload
//! copied into another environment's row (or relabelled with another serial)
//! fails to decrypt. The key id is a hash of the *derived* key: testing a
//! passphrase guess against it costs a full Argon2id derivation, the same as
//! trying to decrypt, so it is no shortcut for offline guessing.
//!
//! Envelopes written before this (encrypted, no `kdf`: key = SHA-256 of the
//! passphrase, no associated data) are still read, and every write produces
//! the new form. A plaintext payload is refused while a key is configured
//! unless the store was opened to migrate (`terrace state encrypt`).
//!
//! Every store keeps exactly this text, so corruption, version and key checks
//! behave identically everywhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StateError;
use crate::model::{FORMAT_VERSION, State, WriteMeta};

const ALGORITHM: &str = "AES-256-GCM";
const KDF_ARGON2ID: &str = "argon2id";
const KDF_RAW: &str = "raw";
/// Argon2id cost written into new envelopes (OWASP's minimum recommendation:
/// 19 MiB, 2 passes, 1 lane).
const ARGON2_M_KIB: u32 = 19 * 1024;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;
/// Upper bounds accepted when reading, so a damaged or hostile envelope
/// cannot make a reader allocate gigabytes or spin for minutes.
const ARGON2_MAX_M_KIB: u32 = 256 * 1024;
const ARGON2_MAX_T: u32 = 16;
const ARGON2_MAX_P: u32 = 16;

/// The stored envelope. Read with the payload as its raw JSON literal
/// (`Envelope<&RawValue>`, see `Codec::open`), then with it unescaped.
#[derive(Serialize, Deserialize)]
struct Envelope<P = String> {
    terrace_state: u32,
    serial: u64,
    lineage: uuid::Uuid,
    written_at: DateTime<Utc>,
    operation: String,
    who: String,
    encryption: Option<EncryptionHeader>,
    sha256: String,
    payload: P,
}

impl<P> Envelope<P> {
    fn with_payload<Q>(self, payload: Q) -> Envelope<Q> {
        Envelope {
            terrace_state: self.terrace_state,
            serial: self.serial,
            lineage: self.lineage,
            written_at: self.written_at,
            operation: self.operation,
            who: self.who,
            encryption: self.encryption,
            sha256: self.sha256,
            payload,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct EncryptionHeader {
    algorithm: String,
    key_id: String,
    nonce: String,
    /// Absent in envelopes of the first encryption format (SHA-256 key, no
    /// associated data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<Kdf>,
}

/// How the AES key of an envelope is obtained.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Kdf {
    name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    salt: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    m_kib: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    t: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    p: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The key reference of an encrypted version.
#[derive(Clone, Debug)]
pub(crate) struct KeyRef {
    pub key_id: String,
    pub kdf: Option<Kdf>,
}

/// What a store needs to know about a stored version without decrypting it.
#[derive(Clone, Debug)]
pub(crate) struct Header {
    pub serial: u64,
    pub lineage: uuid::Uuid,
    pub written_at: DateTime<Utc>,
    pub operation: String,
    pub who: String,
    /// `Some` when the payload is encrypted.
    pub key: Option<KeyRef>,
}

/// The configured key material.
#[derive(Clone)]
pub(crate) enum KeySource {
    /// `TERRACE_STATE_KEY`: derived with Argon2id.
    Passphrase(String),
    /// `TERRACE_STATE_KEY_FILE`: used as is.
    Raw([u8; 32]),
}

struct KeyState {
    source: KeySource,
    /// The KDF (with this process's salt) new envelopes are written with.
    write_kdf: Kdf,
    /// Derived keys by KDF, so each salt costs one derivation per process.
    derived: Mutex<HashMap<Kdf, [u8; 32]>>,
}

/// Encodes and decodes envelopes with an optional encryption key.
#[derive(Clone)]
pub(crate) struct Codec {
    key: Option<Arc<KeyState>>,
    allow_plaintext: bool,
}

fn enc_err(detail: impl Into<String>) -> StateError {
    StateError::Encryption {
        detail: detail.into(),
    }
}

fn aad(env: &str, lineage: &uuid::Uuid, serial: u64) -> Vec<u8> {
    format!("terrace-state/v2\0{env}\0{lineage}\0{serial}").into_bytes()
}

impl Codec {
    /// A codec for the passphrase (`TERRACE_STATE_KEY`), if any.
    pub fn new(passphrase: Option<&str>) -> Codec {
        Codec::with_source(
            passphrase.map(|p| KeySource::Passphrase(p.to_string())),
            false,
        )
    }

    /// A codec for `source`; `allow_plaintext` lets a keyed codec read a
    /// plaintext version (only for turning encryption on).
    pub fn with_source(source: Option<KeySource>, allow_plaintext: bool) -> Codec {
        Codec {
            key: source.map(|source| {
                let write_kdf = match &source {
                    KeySource::Passphrase(_) => {
                        let mut salt = [0u8; 16];
                        rand::rngs::OsRng.fill_bytes(&mut salt);
                        Kdf {
                            name: KDF_ARGON2ID.into(),
                            salt: base64::engine::general_purpose::STANDARD.encode(salt),
                            m_kib: ARGON2_M_KIB,
                            t: ARGON2_T,
                            p: ARGON2_P,
                        }
                    }
                    KeySource::Raw(_) => Kdf {
                        name: KDF_RAW.into(),
                        salt: String::new(),
                        m_kib: 0,
                        t: 0,
                        p: 0,
                    },
                };
                Arc::new(KeyState {
                    source,
                    write_kdf,
                    derived: Mutex::new(HashMap::new()),
                })
            }),
            allow_plaintext,
        }
    }

    /// The AES key for an envelope written with `kdf` (`None`: the first
    /// format, SHA-256 of the passphrase).
    fn derive(&self, ks: &KeyState, kdf: Option<&Kdf>) -> Result<[u8; 32], StateError> {
        let Some(kdf) = kdf else {
            return match &ks.source {
                KeySource::Passphrase(p) => Ok(Sha256::digest(p.as_bytes()).into()),
                KeySource::Raw(_) => Err(enc_err(
                    "the stored state was encrypted with a passphrase; set TERRACE_STATE_KEY to it \
                     (TERRACE_STATE_KEY_FILE gives a raw key)",
                )),
            };
        };
        if let Some(k) = ks.derived.lock().expect("derived keys").get(kdf) {
            return Ok(*k);
        }
        let key = match (kdf.name.as_str(), &ks.source) {
            (KDF_RAW, KeySource::Raw(k)) => *k,
            (KDF_RAW, KeySource::Passphrase(_)) => {
                return Err(enc_err(
                    "the stored state was encrypted with a raw key; set TERRACE_STATE_KEY_FILE to the key file \
                     it was written with (TERRACE_STATE_KEY gives a passphrase)",
                ));
            }
            (KDF_ARGON2ID, KeySource::Raw(_)) => {
                return Err(enc_err(
                    "the stored state was encrypted with a passphrase; set TERRACE_STATE_KEY to it \
                     (TERRACE_STATE_KEY_FILE gives a raw key)",
                ));
            }
            (KDF_ARGON2ID, KeySource::Passphrase(p)) => {
                if kdf.m_kib > ARGON2_MAX_M_KIB || kdf.t > ARGON2_MAX_T || kdf.p > ARGON2_MAX_P {
                    return Err(enc_err(format!(
                        "the stored state's key derivation parameters (m={} KiB, t={}, p={}) exceed what \
                         terrace accepts (m≤{ARGON2_MAX_M_KIB}, t≤{ARGON2_MAX_T}, p≤{ARGON2_MAX_P})",
                        kdf.m_kib, kdf.t, kdf.p
                    )));
                }
                let salt = base64::engine::general_purpose::STANDARD
                    .decode(&kdf.salt)
                    .map_err(|e| enc_err(format!("bad key derivation salt: {e}")))?;
                let params = argon2::Params::new(kdf.m_kib, kdf.t, kdf.p, Some(32))
                    .map_err(|e| enc_err(format!("bad key derivation parameters: {e}")))?;
                let mut out = [0u8; 32];
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                    .hash_password_into(p.as_bytes(), &salt, &mut out)
                    .map_err(|e| enc_err(format!("key derivation failed: {e}")))?;
                out
            }
            (other, _) => {
                return Err(enc_err(format!(
                    "unknown key derivation '{other}'; upgrade terrace"
                )));
            }
        };
        ks.derived
            .lock()
            .expect("derived keys")
            .insert(kdf.clone(), key);
        Ok(key)
    }

    fn key_id(kdf: Option<&Kdf>, key: &[u8; 32]) -> String {
        let mut h = Sha256::new();
        match kdf {
            None => h.update(b"terrace state key id\0"),
            Some(_) => h.update(b"terrace state key id v2\0"),
        }
        h.update(key);
        hex::encode(&h.finalize()[..8])
    }

    /// Encode `state` as the version of environment `env`, in parts of at
    /// most `max` bytes (see [`EnvelopeParts`]). A state that cannot be
    /// encoded at all (a newer format) is refused here, before any part.
    pub fn encode_parts<'a>(
        &self,
        env: &str,
        state: &'a State,
        meta: &WriteMeta,
        written_at: DateTime<Utc>,
        max: usize,
    ) -> Result<EnvelopeParts<'a>, StateError> {
        if self.key.is_none() && state.format_version <= FORMAT_VERSION {
            let plain = PlainParts::new(state, meta, written_at, max)?;
            if plain.fits() {
                return Ok(EnvelopeParts {
                    inner: PartsInner::Plain(Box::new(plain)),
                });
            }
        }
        let whole = self.encode_whole(env, state, meta, written_at)?;
        let cuts = cuts(&whole.first, max);
        Ok(EnvelopeParts {
            inner: PartsInner::Whole {
                text: whole.first,
                cuts,
                next: 0,
                record_digests: whole.record_digests,
            },
        })
    }

    /// Encode `state` as the version of environment `env` (the stores use
    /// [`Codec::encode_whole`] or [`Codec::encode_parts`]).
    #[cfg(test)]
    pub fn encode(
        &self,
        env: &str,
        state: &State,
        meta: &WriteMeta,
        written_at: DateTime<Utc>,
    ) -> Result<String, StateError> {
        self.encode_whole(env, state, meta, written_at)
            .map(|f| f.first)
    }

    /// [`Codec::encode`], with the record digests the encoder took on the
    /// way where it serialised the records itself (unencrypted): the whole
    /// envelope is `first`.
    pub fn encode_whole(
        &self,
        env: &str,
        state: &State,
        meta: &WriteMeta,
        written_at: DateTime<Utc>,
    ) -> Result<Finished, StateError> {
        // A state claiming a newer format would be written under this
        // envelope and then be unreadable by this very version: refuse it.
        if state.format_version > FORMAT_VERSION {
            return Err(StateError::UnsupportedVersion {
                found: state.format_version,
            });
        }
        let Some(ks) = &self.key else {
            let mut whole = PlainParts::new(state, meta, written_at, usize::MAX)?;
            while whole.next_part()?.is_some() {}
            return whole.finish();
        };
        let json = serde_json::to_string(state).map_err(StateError::backend)?;
        let kdf = ks.write_kdf.clone();
        let key = self.derive(ks, Some(&kdf))?;
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(StateError::backend)?;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = aad(env, &state.lineage, state.serial);
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: json.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| enc_err("encryption failed"))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = b64.encode(ct);
        let encryption = Some(EncryptionHeader {
            algorithm: ALGORITHM.to_string(),
            key_id: Self::key_id(Some(&kdf), &key),
            nonce: b64.encode(nonce),
            kdf: Some(kdf),
        });
        let sha256 = checksum(FORMAT_VERSION, state.serial, &state.lineage, &payload);
        let env = Envelope {
            terrace_state: FORMAT_VERSION,
            serial: state.serial,
            lineage: state.lineage,
            written_at,
            operation: meta.operation.clone(),
            who: meta.who.clone(),
            encryption,
            sha256,
            payload,
        };
        let text = serde_json::to_string(&env).map_err(StateError::backend)?;
        Ok(Finished {
            len: text.len(),
            first: text,
            record_digests: None,
        })
    }

    /// Check the envelope's version and checksum and return its header.
    /// Does not need the key.
    pub fn header(&self, raw: &str, what: &str) -> Result<Header, StateError> {
        Ok(self.open(raw, what)?.0)
    }

    /// Check that this codec may write over (or read) a version with this header:
    /// an encrypted version needs the same key.
    pub fn check_key(&self, header: &Header) -> Result<(), StateError> {
        match (&header.key, &self.key) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(enc_err(
                "the stored state is encrypted and no key is set; set TERRACE_STATE_KEY to the passphrase \
                 (or TERRACE_STATE_KEY_FILE to the key file) it was written with",
            )),
            (Some(stored), Some(ks)) => {
                let key = self.derive(ks, stored.kdf.as_ref())?;
                let ours = Self::key_id(stored.kdf.as_ref(), &key);
                if ours == stored.key_id {
                    Ok(())
                } else {
                    Err(enc_err(format!(
                        "the stored state was encrypted with a different key (key id {}, the configured key gives \
                         {ours}); set TERRACE_STATE_KEY (or TERRACE_STATE_KEY_FILE) to the key it was written with",
                        stored.key_id
                    )))
                }
            }
        }
    }

    /// Decode a stored version of environment `env` fully.
    pub fn decode(
        &self,
        raw: &str,
        what: &str,
        env_name: &str,
    ) -> Result<(Header, State), StateError> {
        let (header, env) = self.open(raw, what)?;
        self.decode_opened(header, env, what, env_name)
    }

    /// [`Codec::decode`] of text the caller no longer needs: it is freed
    /// once the envelope is read, before the state inside is parsed. The
    /// stored text, the payload and the parsed records together were the
    /// peak of reading a large state.
    pub fn decode_owned(
        &self,
        raw: String,
        what: &str,
        env_name: &str,
    ) -> Result<(Header, State), StateError> {
        let (header, env) = self.open(&raw, what)?;
        drop(raw);
        self.decode_opened(header, env, what, env_name)
    }

    fn decode_opened(
        &self,
        header: Header,
        env: Envelope,
        what: &str,
        env_name: &str,
    ) -> Result<(Header, State), StateError> {
        self.check_key(&header)?;
        let json = match (&env.encryption, &self.key) {
            (None, None) => env.payload.into_bytes(),
            (None, Some(_)) if self.allow_plaintext => env.payload.into_bytes(),
            (None, Some(_)) => {
                return Err(enc_err(format!(
                    "{what} is stored unencrypted, but a key is configured, so it is refused (it may have been \
                     put there in place of the encrypted state); to turn encryption on for this environment \
                     run `terrace state encrypt -e {env_name}` once, or unset TERRACE_STATE_KEY"
                )));
            }
            (Some(enc), Some(ks)) => {
                let corrupt = |detail: String| StateError::Corrupt {
                    what: what.to_string(),
                    detail,
                };
                if enc.algorithm != ALGORITHM {
                    return Err(enc_err(format!(
                        "unknown encryption algorithm '{}'; upgrade terrace",
                        enc.algorithm
                    )));
                }
                let b64 = base64::engine::general_purpose::STANDARD;
                let nonce = b64
                    .decode(&enc.nonce)
                    .map_err(|e| corrupt(format!("bad nonce: {e}")))?;
                if nonce.len() != 12 {
                    return Err(corrupt("bad nonce length".into()));
                }
                let ct = b64
                    .decode(&env.payload)
                    .map_err(|e| corrupt(format!("bad ciphertext: {e}")))?;
                let key = self.derive(ks, enc.kdf.as_ref())?;
                let cipher = Aes256Gcm::new_from_slice(&key).map_err(StateError::backend)?;
                match &enc.kdf {
                    Some(_) => {
                        let aad = aad(env_name, &header.lineage, header.serial);
                        cipher
                            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad: &aad })
                            .map_err(|_| {
                                enc_err(format!(
                                    "{what} does not decrypt as a version of environment '{env_name}' with serial {} \
                                     although the key id matches: it was copied from another environment or \
                                     version, or tampered with; restore it with `terrace state history` / \
                                     `terrace state rollback`",
                                    header.serial
                                ))
                            })?
                    }
                    None => cipher.decrypt(Nonce::from_slice(&nonce), ct.as_ref()).map_err(|_| {
                        enc_err(
                            "decryption failed although the key id matches; the stored state was tampered with or \
                             the key is wrong",
                        )
                    })?,
                }
            }
            (Some(_), None) => unreachable!("check_key rejects encrypted state without key"),
        };
        // The format version first, so a newer state is reported as such
        // rather than as a field this version does not know; the probe skips
        // everything else without building it (a whole JSON tree of the
        // state would be its largest copy).
        #[derive(Deserialize)]
        struct Probe {
            format_version: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(&json).map_err(|e| StateError::Corrupt {
            what: what.to_string(),
            detail: format!("state JSON: {e}"),
        })?;
        if let Some(v) = probe.format_version.as_ref().and_then(|v| v.as_u64())
            && v > u64::from(FORMAT_VERSION)
        {
            return Err(StateError::UnsupportedVersion {
                found: u32::try_from(v).unwrap_or(u32::MAX),
            });
        }
        let state: State = serde_json::from_slice(&json).map_err(|e| StateError::Corrupt {
            what: what.to_string(),
            detail: format!("state JSON: {e}"),
        })?;
        if state.serial != header.serial || state.lineage != header.lineage {
            return Err(StateError::Corrupt {
                what: what.to_string(),
                detail: "the envelope's serial/lineage do not match the state inside".into(),
            });
        }
        Ok((header, state))
    }

    /// Encrypt `plain` (when a key is configured) with `aad` as associated
    /// data, for documents other than the state envelope (history deltas):
    /// the payload text and its encryption header.
    pub(crate) fn seal(
        &self,
        aad: &[u8],
        plain: &[u8],
    ) -> Result<(String, Option<EncryptionHeader>), StateError> {
        let Some(ks) = &self.key else {
            let text = String::from_utf8(plain.to_vec()).map_err(StateError::backend)?;
            return Ok((text, None));
        };
        let kdf = ks.write_kdf.clone();
        let key = self.derive(ks, Some(&kdf))?;
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(StateError::backend)?;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            .map_err(|_| enc_err("encryption failed"))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok((
            b64.encode(ct),
            Some(EncryptionHeader {
                algorithm: ALGORITHM.to_string(),
                key_id: Self::key_id(Some(&kdf), &key),
                nonce: b64.encode(nonce),
                kdf: Some(kdf),
            }),
        ))
    }

    /// Whether this codec writes encrypted payloads.
    pub(crate) fn encrypts(&self) -> bool {
        self.key.is_some()
    }

    /// The inverse of [`Codec::seal`], with the same key checks and the same
    /// refusal of plaintext while a key is configured as [`Codec::decode`].
    pub(crate) fn unseal(
        &self,
        enc: Option<&EncryptionHeader>,
        payload: &str,
        aad: &[u8],
        what: &str,
        env_name: &str,
    ) -> Result<Vec<u8>, StateError> {
        let key_ref = enc.map(|e| KeyRef {
            key_id: e.key_id.clone(),
            kdf: e.kdf.clone(),
        });
        match (enc, &self.key) {
            (None, None) => Ok(payload.as_bytes().to_vec()),
            (None, Some(_)) if self.allow_plaintext => Ok(payload.as_bytes().to_vec()),
            (None, Some(_)) => Err(enc_err(format!(
                "{what} is stored unencrypted, but a key is configured, so it is refused; unset \
                 TERRACE_STATE_KEY to read it"
            ))),
            (Some(_), None) => Err(enc_err(
                "the stored state is encrypted and no key is set; set TERRACE_STATE_KEY to the passphrase \
                 (or TERRACE_STATE_KEY_FILE to the key file) it was written with",
            )),
            (Some(enc), Some(ks)) => {
                let header = Header {
                    serial: 0,
                    lineage: uuid::Uuid::nil(),
                    written_at: DateTime::<Utc>::UNIX_EPOCH,
                    operation: String::new(),
                    who: String::new(),
                    key: key_ref,
                };
                self.check_key(&header)?;
                if enc.algorithm != ALGORITHM || enc.kdf.is_none() {
                    return Err(enc_err(format!(
                        "unknown encryption of {what} ('{}'); upgrade terrace",
                        enc.algorithm
                    )));
                }
                let corrupt = |detail: String| StateError::Corrupt {
                    what: what.to_string(),
                    detail,
                };
                let b64 = base64::engine::general_purpose::STANDARD;
                let nonce = b64
                    .decode(&enc.nonce)
                    .map_err(|e| corrupt(format!("bad nonce: {e}")))?;
                if nonce.len() != 12 {
                    return Err(corrupt("bad nonce length".into()));
                }
                let ct = b64
                    .decode(payload)
                    .map_err(|e| corrupt(format!("bad ciphertext: {e}")))?;
                let key = self.derive(ks, enc.kdf.as_ref())?;
                let cipher = Aes256Gcm::new_from_slice(&key).map_err(StateError::backend)?;
                cipher
                    .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad })
                    .map_err(|_| {
                        enc_err(format!(
                            "{what} does not decrypt as a version of environment '{env_name}' although the key \
                             id matches: it was copied from another environment or version, or tampered with"
                        ))
                    })
            }
        }
    }

    fn open(&self, raw: &str, what: &str) -> Result<(Header, Envelope), StateError> {
        let corrupt = |detail: String| StateError::Corrupt {
            what: what.to_string(),
            detail,
        };
        // The version first, so a newer envelope is reported as such rather
        // than as fields this version does not know; the probe skips the
        // rest without building it.
        #[derive(Deserialize)]
        struct Probe {
            terrace_state: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_str(raw)
            .map_err(|e| corrupt(format!("not a complete JSON document ({e})")))?;
        let version = probe
            .terrace_state
            .as_ref()
            .and_then(|v| v.as_u64())
            .ok_or_else(|| {
                corrupt("not a terrace state envelope (no 'terrace_state' version)".into())
            })?;
        if version != u64::from(FORMAT_VERSION) {
            return Err(StateError::UnsupportedVersion {
                found: u32::try_from(version).unwrap_or(u32::MAX),
            });
        }
        // The payload (the state's JSON, as a JSON string) is taken as its
        // raw literal and unescaped into a string sized once: serde_json
        // unescapes into a buffer grown by doubling and then copies it,
        // which for a 1.4 GB state held three copies of it at once.
        let text: Envelope<&serde_json::value::RawValue> =
            serde_json::from_str(raw).map_err(|e| corrupt(format!("bad envelope: {e}")))?;
        let payload = unescape_json_string(text.payload.get())
            .map_err(|e| corrupt(format!("bad envelope: payload: {e}")))?;
        let env = text.with_payload(payload);
        let expected = checksum(env.terrace_state, env.serial, &env.lineage, &env.payload);
        if expected != env.sha256 {
            return Err(corrupt(format!(
                "checksum mismatch (stored {}, computed {expected})",
                env.sha256
            )));
        }
        let header = Header {
            serial: env.serial,
            lineage: env.lineage,
            written_at: env.written_at,
            operation: env.operation.clone(),
            who: env.who.clone(),
            key: env.encryption.as_ref().map(|e| KeyRef {
                key_id: e.key_id.clone(),
                kdf: e.kdf.clone(),
            }),
        };
        Ok((header, env))
    }
}

/// The text of a JSON string literal (`"…"`, as serde_json's `RawValue`
/// gives it: already checked to be well formed), unescaped into a string
/// allocated once at the literal's length (the most it can need).
fn unescape_json_string(literal: &str) -> Result<String, String> {
    let inner = literal
        .strip_prefix('"')
        .and_then(|l| l.strip_suffix('"'))
        .ok_or("not a JSON string")?;
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = &rest[at + 1..];
        let mut used = 1;
        match escape.as_bytes().first() {
            Some(b'"') => out.push('"'),
            Some(b'\\') => out.push('\\'),
            Some(b'/') => out.push('/'),
            Some(b'b') => out.push('\u{8}'),
            Some(b'f') => out.push('\u{c}'),
            Some(b'n') => out.push('\n'),
            Some(b'r') => out.push('\r'),
            Some(b't') => out.push('\t'),
            Some(b'u') => {
                let unit = |s: &str| {
                    s.get(..4)
                        .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .ok_or("bad \\u escape")
                };
                let first = unit(&escape[1..])?;
                used = 5;
                let code = if (0xD800..0xDC00).contains(&first) {
                    // A high surrogate: its low half must follow.
                    let low = escape[5..]
                        .strip_prefix("\\u")
                        .ok_or("lone leading surrogate in \\u escape")
                        .and_then(|l| {
                            unit(l).map_err(|_| "lone leading surrogate in \\u escape")
                        })?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err("lone leading surrogate in \\u escape".into());
                    }
                    used = 11;
                    0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    first
                };
                out.push(char::from_u32(code).ok_or("lone trailing surrogate in \\u escape")?);
            }
            _ => return Err("bad escape".into()),
        }
        rest = &escape[used..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A small payload sealed with the state key outside any state version
/// (the sensitive values of a plan file): AES-256-GCM under the key the
/// state envelopes use (the same Argon2id derivation, salted per writing
/// process, or the raw key), with caller-chosen associated data.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SealedBytes {
    algorithm: String,
    key_id: String,
    nonce: String,
    kdf: Kdf,
    ciphertext: String,
}

impl Codec {
    /// True when a key is configured.
    pub(crate) fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Encrypt `msg` with the configured key, bound to `aad`.
    pub(crate) fn seal_bytes(&self, aad: &[u8], msg: &[u8]) -> Result<SealedBytes, StateError> {
        let ks = self.key.as_ref().ok_or_else(|| {
            enc_err("no state key is set (TERRACE_STATE_KEY or TERRACE_STATE_KEY_FILE)")
        })?;
        let kdf = ks.write_kdf.clone();
        let key = self.derive(ks, Some(&kdf))?;
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(StateError::backend)?;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg, aad })
            .map_err(|_| enc_err("encryption failed"))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(SealedBytes {
            algorithm: ALGORITHM.to_string(),
            key_id: Self::key_id(Some(&kdf), &key),
            nonce: b64.encode(nonce),
            kdf,
            ciphertext: b64.encode(ct),
        })
    }

    /// Decrypt what [`Codec::seal`] sealed with the same key and `aad`.
    pub(crate) fn unseal_bytes(&self, s: &SealedBytes, aad: &[u8]) -> Result<Vec<u8>, StateError> {
        let ks = self.key.as_ref().ok_or_else(|| {
            enc_err(
                "the values are encrypted with the state key and no key is set; set TERRACE_STATE_KEY to the \
                 passphrase (or TERRACE_STATE_KEY_FILE to the key file) they were written with",
            )
        })?;
        if s.algorithm != ALGORITHM {
            return Err(enc_err(format!(
                "unknown encryption algorithm '{}'; upgrade terrace",
                s.algorithm
            )));
        }
        let key = self.derive(ks, Some(&s.kdf))?;
        let ours = Self::key_id(Some(&s.kdf), &key);
        if ours != s.key_id {
            return Err(enc_err(format!(
                "the values were encrypted with a different key (key id {}, the configured key gives {ours}); \
                 set TERRACE_STATE_KEY (or TERRACE_STATE_KEY_FILE) to the key they were written with",
                s.key_id
            )));
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let nonce = b64
            .decode(&s.nonce)
            .map_err(|e| enc_err(format!("bad nonce: {e}")))?;
        if nonce.len() != 12 {
            return Err(enc_err("bad nonce length"));
        }
        let ct = b64
            .decode(&s.ciphertext)
            .map_err(|e| enc_err(format!("bad ciphertext: {e}")))?;
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(StateError::backend)?;
        cipher
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad })
            .map_err(|_| {
                enc_err(
                    "the encrypted values do not decrypt although the key id matches: they were copied from \
                     another file or tampered with",
                )
            })
    }
}

/// 32 random bytes from the operating system's generator.
pub(crate) fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    k
}

/// A state version's envelope in parts of at most `max` bytes, cut where
/// [`split_text`] would cut the whole text (at the last character boundary
/// at or before `max`), so the stored parts are the same either way. The
/// continuation parts (the second onwards) come out of
/// [`EnvelopeParts::next_part`] one at a time, so a store can write each
/// and drop it before the next is encoded; the first part, which carries
/// the checksum, comes out of [`EnvelopeParts::finish`] at the end. An
/// unencrypted state is serialised record by record as parts are asked
/// for, so neither the state JSON nor the whole envelope is ever held.
pub struct EnvelopeParts<'a> {
    inner: PartsInner<'a>,
}

enum PartsInner<'a> {
    Plain(Box<PlainParts<'a>>),
    /// An encrypted state (AES-GCM needs the whole plaintext), or parts too
    /// small to hold the envelope's header: the text is built first.
    Whole {
        text: String,
        cuts: Vec<usize>,
        next: usize,
        record_digests: Option<Vec<[u8; 32]>>,
    },
}

impl EnvelopeParts<'_> {
    /// The next continuation part, or `None` once every one has come out
    /// (then [`EnvelopeParts::finish`]).
    pub fn next_part(&mut self) -> Result<Option<String>, StateError> {
        match &mut self.inner {
            PartsInner::Plain(p) => p.next_part(),
            PartsInner::Whole {
                text, cuts, next, ..
            } => {
                if *next + 1 >= cuts.len() {
                    return Ok(None);
                }
                *next += 1;
                let end = cuts.get(*next + 1).copied().unwrap_or(text.len());
                Ok(Some(text[cuts[*next]..end].to_string()))
            }
        }
    }

    /// The first part (with its checksum) and the length of the whole
    /// envelope. Call after [`EnvelopeParts::next_part`] returned `None`.
    pub fn finish(self) -> Result<Finished, StateError> {
        match self.inner {
            PartsInner::Plain(p) => p.finish(),
            PartsInner::Whole {
                mut text,
                cuts,
                next,
                record_digests,
            } => {
                if next + 1 < cuts.len() {
                    return Err(StateError::backend(
                        "envelope parts finished before the last one",
                    ));
                }
                let len = text.len();
                text.truncate(cuts.get(1).copied().unwrap_or(len));
                Ok(Finished {
                    first: text,
                    len,
                    record_digests,
                })
            }
        }
    }
}

/// What is left once every continuation part is out.
pub struct Finished {
    /// The first part, checksum filled in.
    pub first: String,
    /// The whole envelope's length in bytes.
    pub len: usize,
    /// The SHA-256 of each record's JSON, in order, where the encoder
    /// serialised the records itself (unencrypted); `None` otherwise.
    pub record_digests: Option<Vec<[u8; 32]>>,
}

/// Where [`split_text`] cuts `text` into pieces of at most `max` bytes:
/// the start of every piece.
fn cuts(text: &str, max: usize) -> Vec<usize> {
    let mut out = vec![0];
    let mut at = 0;
    while text.len() - at > max {
        let mut cut = at + max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push(cut);
        at = cut;
    }
    out
}

/// `text` in pieces of at most `max` bytes, each cut at the last character
/// boundary at or before `max` (the parts SQL stores keep).
pub(crate) fn split_text(text: &str, max: usize) -> Vec<&str> {
    let c = cuts(text, max);
    c.iter()
        .enumerate()
        .map(|(i, &at)| &text[at..c.get(i + 1).copied().unwrap_or(text.len())])
        .collect()
}

/// The envelope of an unencrypted state, byte for byte what serialising an
/// [`Envelope`] with the state JSON as its payload gives, written without
/// holding the state JSON and its escaped copy at once: the state is
/// serialised straight into the envelope's `payload` string (escaped as it
/// is written), a record at a time, the checksum computed over the
/// unescaped bytes as they pass and written into a placeholder in front of
/// the payload at the end.
struct PlainParts<'a> {
    state: &'a State,
    /// What is serialised next: 0 the state's fields before `resources`,
    /// 1..=n resource i-1, n+1 the rest; then nothing.
    step: usize,
    sink: EscapingSink,
    /// The first part, once cut (it waits for the checksum).
    first: Option<Vec<u8>>,
    /// Where the checksum placeholder starts in the first part.
    sha_at: usize,
    max: usize,
    /// Bytes of the parts already given out.
    given: usize,
    /// The SHA-256 of each record's JSON, in order.
    records: Vec<[u8; 32]>,
}

impl<'a> PlainParts<'a> {
    fn new(
        state: &'a State,
        meta: &WriteMeta,
        written_at: DateTime<Utc>,
        max: usize,
    ) -> Result<PlainParts<'a>, StateError> {
        const TAIL: &str = "\",\"payload\":\"\"}";
        let placeholder = "0".repeat(64);
        let head = serde_json::to_string(&Envelope {
            terrace_state: FORMAT_VERSION,
            serial: state.serial,
            lineage: state.lineage,
            written_at,
            operation: meta.operation.clone(),
            who: meta.who.clone(),
            encryption: None,
            sha256: placeholder.clone(),
            payload: String::new(),
        })
        .map_err(StateError::backend)?;
        // `…,"sha256":"<placeholder>","payload":""}`: keep everything up to the
        // payload's opening quote.
        let Some(sha_at) = head
            .strip_suffix(TAIL)
            .filter(|h| h.ends_with(placeholder.as_str()))
            .map(|h| h.len() - placeholder.len())
        else {
            return Err(StateError::backend(format!(
                "unexpected envelope layout: {head}"
            )));
        };
        let mut out = head.into_bytes();
        out.truncate(out.len() - 2);
        let mut sha = Sha256::new();
        sha.update(format!("{FORMAT_VERSION}\n{}\n{}\n", state.serial, state.lineage).as_bytes());
        Ok(PlainParts {
            state,
            step: 0,
            sink: EscapingSink {
                out,
                sha,
                record: None,
            },
            records: Vec::with_capacity(state.resources.len()),
            first: None,
            sha_at,
            max,
            given: 0,
        })
    }

    /// Whether the checksum placeholder fits in the first part.
    fn fits(&self) -> bool {
        self.sha_at + 64 <= self.max
    }

    /// Serialise the next step into the sink; `false` when all is written.
    fn step(&mut self) -> Result<bool, StateError> {
        use std::io::Write as _;
        // Every field, so a field added to `State` fails to compile here
        // rather than go missing from stored states.
        let State {
            format_version,
            lineage,
            serial,
            terrace_version,
            resources,
            outputs,
        } = self.state;
        let w = &mut self.sink;
        let io = |e: std::io::Error| StateError::backend(e);
        let js = |e: serde_json::Error| StateError::backend(e);
        match self.step {
            0 => {
                w.write_all(b"{\"format_version\":").map_err(io)?;
                serde_json::to_writer(&mut *w, format_version).map_err(js)?;
                w.write_all(b",\"lineage\":").map_err(io)?;
                serde_json::to_writer(&mut *w, lineage).map_err(js)?;
                w.write_all(b",\"serial\":").map_err(io)?;
                serde_json::to_writer(&mut *w, serial).map_err(js)?;
                w.write_all(b",\"terrace_version\":").map_err(io)?;
                serde_json::to_writer(&mut *w, terrace_version).map_err(js)?;
                w.write_all(b",\"resources\":[").map_err(io)?;
            }
            i if i <= resources.len() => {
                if i > 1 {
                    w.write_all(b",").map_err(io)?;
                }
                w.record = Some(Sha256::new());
                serde_json::to_writer(&mut *w, &resources[i - 1]).map_err(js)?;
                if let Some(h) = w.record.take() {
                    self.records.push(h.finalize().into());
                }
            }
            i if i == resources.len() + 1 => {
                w.write_all(b"],\"outputs\":").map_err(io)?;
                serde_json::to_writer(&mut *w, outputs).map_err(js)?;
                w.write_all(b"}").map_err(io)?;
                // The envelope's end, outside the escaped payload.
                w.out.extend_from_slice(b"\"}");
            }
            _ => return Ok(false),
        }
        self.step += 1;
        Ok(true)
    }

    fn next_part(&mut self) -> Result<Option<String>, StateError> {
        loop {
            let out = &mut self.sink.out;
            if out.len() > self.max {
                let mut cut = self.max;
                while cut > 0 && out[cut] & 0xc0 == 0x80 {
                    cut -= 1;
                }
                let mut rest =
                    Vec::with_capacity(self.max.saturating_add(self.max / 8).min(1 << 30));
                rest.extend_from_slice(&out[cut..]);
                out.truncate(cut);
                let head = std::mem::replace(out, rest);
                if self.first.is_none() {
                    self.first = Some(head);
                    continue;
                }
                self.given += head.len();
                return String::from_utf8(head)
                    .map(Some)
                    .map_err(StateError::backend);
            }
            if !self.step()? {
                if self.first.is_some() && !self.sink.out.is_empty() {
                    let last = std::mem::take(&mut self.sink.out);
                    self.given += last.len();
                    return String::from_utf8(last)
                        .map(Some)
                        .map_err(StateError::backend);
                }
                return Ok(None);
            }
        }
    }

    fn finish(mut self) -> Result<Finished, StateError> {
        if self.step <= self.state.resources.len() + 1
            || (self.first.is_some() && !self.sink.out.is_empty())
        {
            return Err(StateError::backend(
                "envelope parts finished before the last one",
            ));
        }
        let EscapingSink { out, sha, .. } = self.sink;
        let mut first = self.first.take().unwrap_or(out);
        first[self.sha_at..self.sha_at + 64]
            .copy_from_slice(hex::encode(sha.finalize()).as_bytes());
        let len = self.given + first.len();
        Ok(Finished {
            first: String::from_utf8(first).map_err(StateError::backend)?,
            len,
            record_digests: Some(self.records),
        })
    }
}

/// Appends what is written to it as the inside of a JSON string (escaped as
/// serde_json escapes strings) and hashes the unescaped bytes.
struct EscapingSink {
    out: Vec<u8>,
    sha: Sha256,
    /// While a state record passes: the hash of its JSON alone (the
    /// history digest of the record, taken from the same bytes).
    record: Option<Sha256>,
}

impl std::io::Write for EscapingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sha.update(buf);
        if let Some(r) = &mut self.record {
            r.update(buf);
        }
        let mut start = 0;
        let mut i = 0;
        while i < buf.len() {
            // Eight bytes at a time while none needs escaping (the bulk of
            // a state: base64, ids, names).
            if let Some(word) = buf.get(i..i + 8)
                && nothing_to_escape(u64::from_le_bytes(word.try_into().unwrap_or_default()))
            {
                i += 8;
                continue;
            }
            let b = buf[i];
            let short = match b {
                b'"' => b'"',
                b'\\' => b'\\',
                0x08 => b'b',
                0x0c => b'f',
                b'\n' => b'n',
                b'\r' => b'r',
                b'\t' => b't',
                0x00..=0x1f => 0,
                _ => {
                    i += 1;
                    continue;
                }
            };
            self.out.extend_from_slice(&buf[start..i]);
            i += 1;
            start = i;
            if short == 0 {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.out.extend_from_slice(b"\\u00");
                self.out.push(HEX[usize::from(b >> 4)]);
                self.out.push(HEX[usize::from(b & 0xf)]);
            } else {
                self.out.push(b'\\');
                self.out.push(short);
            }
        }
        self.out.extend_from_slice(&buf[start..]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether none of the eight bytes of `x` is a quote, a backslash or a
/// control character (below 0x20): the bytes JSON strings escape.
fn nothing_to_escape(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Nonzero iff some byte of `v` is below `n` (n <= 0x80).
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH;
    let zero = |v: u64| below(v, 1);
    (below(x, 0x20) | zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\')))) == 0
}

fn checksum(version: u32, serial: u64, lineage: &uuid::Uuid, payload: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("{version}\n{serial}\n{lineage}\n").as_bytes());
    h.update(payload.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `encode` wrote before it streamed: the state JSON, then the
    /// envelope around it.
    fn encode_by_value(state: &State, meta: &WriteMeta, written_at: DateTime<Utc>) -> String {
        let payload = serde_json::to_string(state).unwrap();
        serde_json::to_string(&Envelope {
            terrace_state: FORMAT_VERSION,
            serial: state.serial,
            lineage: state.lineage,
            written_at,
            operation: meta.operation.clone(),
            who: meta.who.clone(),
            encryption: None,
            sha256: checksum(FORMAT_VERSION, state.serial, &state.lineage, &payload),
            payload,
        })
        .unwrap()
    }

    #[test]
    fn streamed_plain_envelope_is_byte_identical() {
        let mut st = sample();
        let every_byte: String = (0u8..0x80).map(char::from).collect();
        st.outputs.insert(
            "tricky \"quoted\" \\ \u{7f} é 😀".into(),
            crate::OutputState {
                value: serde_json::json!({"all": every_byte, "nested": ["\\\"", "\u{2028}"]}),
                sensitive: false,
            },
        );
        let mut meta = WriteMeta::new("apply \"x\"");
        meta.who = "ünï\\côde@host\n".into();
        let at = Utc::now();
        let streamed = Codec::new(None).encode("dev", &st, &meta, at).unwrap();
        assert_eq!(streamed, encode_by_value(&st, &meta, at));
        let (h, back) = Codec::new(None).decode(&streamed, "x", "dev").unwrap();
        assert_eq!(h.who, meta.who);
        assert_eq!(back, st);
    }

    fn record(i: usize) -> crate::ResourceState {
        crate::ResourceState {
            address: format!("terraform_data.x[{i}]"),
            mode: "managed".into(),
            type_name: "terraform_data".into(),
            provider: "terraform".into(),
            // Multi-byte characters and escapes, so cuts land inside both.
            attributes: serde_json::json!({"input": format!("\"é😀{}\n", "ü😀".repeat(i * 7))})
                .into(),
            sensitive_paths: vec![],
            dependencies: vec![format!("dep{i}")],
            schema_version: 0,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn all_parts(p: EnvelopeParts<'_>) -> (Vec<String>, usize) {
        let (parts, f) = all_parts_and(p);
        (parts, f.len)
    }

    fn all_parts_and(mut p: EnvelopeParts<'_>) -> (Vec<String>, Finished) {
        let mut rest = Vec::new();
        while let Some(part) = p.next_part().unwrap() {
            rest.push(part);
        }
        let mut f = p.finish().unwrap();
        rest.insert(0, std::mem::take(&mut f.first));
        (rest, f)
    }

    #[test]
    fn envelope_parts_are_the_pieces_of_the_whole_text() {
        let mut st = sample();
        st.resources = (0..40).map(record).collect();
        let meta = WriteMeta::new("apply");
        let at = Utc::now();
        let codec = Codec::new(None);
        let whole = codec.encode("dev", &st, &meta, at).unwrap();
        assert_eq!(whole, encode_by_value(&st, &meta, at));
        let n = whole.len();
        // 16 and 64: too small for the header, built whole and then cut.
        for max in [
            16,
            64,
            400,
            401,
            577,
            1000,
            4096,
            n - 1,
            n,
            n + 1,
            usize::MAX,
        ] {
            let (parts, len) = all_parts(codec.encode_parts("dev", &st, &meta, at, max).unwrap());
            assert_eq!(len, n, "max {max}");
            assert_eq!(parts, split_text(&whole, max), "max {max}");
            assert!(
                parts.iter().all(|p| p.len() <= max && !p.is_empty()),
                "max {max}"
            );
        }
        // The streamed encoder hashes each record's JSON as history's digests do.
        let (_, f) = all_parts_and(codec.encode_parts("dev", &st, &meta, at, 1000).unwrap());
        let expected: Vec<[u8; 32]> = st
            .resources
            .iter()
            .map(|r| Sha256::digest(serde_json::to_vec(r).unwrap()).into())
            .collect();
        assert_eq!(f.record_digests.as_ref(), Some(&expected));
        // So does the whole-text path (parts too small for the header).
        let (_, f) = all_parts_and(codec.encode_parts("dev", &st, &meta, at, 16).unwrap());
        assert_eq!(f.record_digests, Some(expected));
        // No resources at all, and a part size that cuts the header's end.
        let empty = sample();
        let whole = codec.encode("dev", &empty, &meta, at).unwrap();
        for max in [300, whole.len() / 2, whole.len()] {
            let (parts, _) = all_parts(codec.encode_parts("dev", &empty, &meta, at, max).unwrap());
            assert_eq!(parts.concat(), whole, "max {max}");
        }
    }

    #[test]
    fn encrypted_envelope_parts_reassemble_and_decode() {
        let mut st = sample();
        st.resources = (0..10).map(record).collect();
        let codec = Codec::new(Some("pass phrase"));
        let (parts, len) = all_parts(
            codec
                .encode_parts("dev", &st, &WriteMeta::new("apply"), Utc::now(), 500)
                .unwrap(),
        );
        assert!(parts.len() > 2);
        let text = parts.concat();
        assert_eq!(text.len(), len);
        assert_eq!(codec.decode(&text, "x", "dev").unwrap().1, st);
    }

    #[test]
    fn envelope_parts_refuse_to_finish_early_and_newer_formats() {
        let mut st = sample();
        st.resources = (0..40).map(record).collect();
        let codec = Codec::new(None);
        let mut p = codec
            .encode_parts("dev", &st, &WriteMeta::new("apply"), Utc::now(), 1000)
            .unwrap();
        assert!(p.next_part().unwrap().is_some());
        assert!(matches!(p.finish(), Err(StateError::Backend { .. })));
        st.format_version = FORMAT_VERSION + 1;
        assert!(matches!(
            codec.encode_parts("dev", &st, &WriteMeta::new("apply"), Utc::now(), 1000),
            Err(StateError::UnsupportedVersion { .. })
        ));
    }

    #[test]
    fn eight_byte_escape_check_matches_the_byte_by_byte_one() {
        let escapes = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = *b"abcdefgh";
                word[at] = b;
                assert_eq!(
                    nothing_to_escape(u64::from_le_bytes(word)),
                    !escapes(b),
                    "byte {b:#04x} at {at}"
                );
            }
        }
        // Neighbours that borrow across bytes in the subtraction.
        for w in [
            *b"\x00\x01\x1f\x20\"\\\x7f\x80",
            [0xff; 8],
            [0x20; 8],
            [0x21; 8],
            *b"\x80\x00\x80\x00\x80\x00\x80\x00",
        ] {
            assert_eq!(
                nothing_to_escape(u64::from_le_bytes(w)),
                !w.iter().any(|&b| escapes(b)),
                "{w:?}"
            );
        }
    }

    #[test]
    fn streamed_envelope_checksum_is_checked() {
        let raw = Codec::new(None)
            .encode("dev", &sample(), &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        let tampered = raw.replace("secret", "SECRET");
        assert!(matches!(
            Codec::new(None).decode(&tampered, "x", "dev"),
            Err(StateError::Corrupt { .. })
        ));
    }

    /// The payload's literal is unescaped exactly as serde_json would
    /// (every escape, surrogate pairs, multi-byte text, escapes at the
    /// edges), and what serde_json refuses is refused.
    #[test]
    fn payload_unescaping_is_serde_jsons() {
        let texts = [
            String::new(),
            "plain".into(),
            "\"quoted\" \\ back/slash\u{8}\u{c}\n\r\t".into(),
            "é€😀 \u{1} \u{1f} \u{7f} \u{ffff}".into(),
            "\\".into(),
            "{\"resources\":[{\"attributes\":{\"note\":\"a\\\"b\"}}]}".into(),
            "x".repeat(10_000) + "\"",
        ];
        for text in &texts {
            let literal = serde_json::to_string(text).unwrap();
            assert_eq!(&unescape_json_string(&literal).unwrap(), text, "{literal}");
        }
        // Escapes serde_json writes only when asked, and surrogate pairs.
        for literal in [
            r#""\u0041\u00e9\u20ac\ud83d\ude00\/""#,
            r#""\uD83D\uDE00 upper-case hex""#,
            r#""\u0000 nul""#,
        ] {
            let want: String = serde_json::from_str(literal).unwrap();
            assert_eq!(unescape_json_string(literal).unwrap(), want, "{literal}");
        }
        for bad in [
            r#""\ud83d alone""#,
            r#""\ude00 trailing alone""#,
            r#""\ud83d\u0041""#,
            r#""\u+041""#,
            r#""\x41""#,
            r#""\u12""#,
            "no quotes",
        ] {
            assert!(unescape_json_string(bad).is_err(), "{bad} was accepted");
            assert!(serde_json::from_str::<String>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decode_owned_is_decode() {
        let c = Codec::new(None);
        let raw = c
            .encode("dev", &sample(), &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        let (h1, s1) = c.decode(&raw, "state", "dev").unwrap();
        let (h2, s2) = c.decode_owned(raw.clone(), "state", "dev").unwrap();
        assert_eq!((h1.serial, h1.lineage), (h2.serial, h2.lineage));
        assert_eq!(s1, s2);
        // The checks are the same: a tampered text, or one cut short, is refused.
        let tampered = raw.replace("secret", "SECRET");
        assert!(matches!(
            c.decode_owned(tampered, "x", "dev"),
            Err(StateError::Corrupt { .. })
        ));
        assert!(matches!(
            c.decode_owned(raw[..raw.len() / 2].to_string(), "x", "dev"),
            Err(StateError::Corrupt { .. })
        ));
        // And a plaintext state is refused where a key is configured.
        let keyed = Codec::new(Some("pass"));
        assert!(keyed.decode_owned(raw, "x", "dev").is_err());
    }

    fn sample() -> State {
        let mut s = State::new();
        s.serial = 3;
        s.outputs.insert(
            "x".into(),
            crate::OutputState {
                value: serde_json::json!("secret"),
                sensitive: true,
            },
        );
        s
    }

    #[test]
    fn plain_round_trip() {
        let c = Codec::new(None);
        let raw = c
            .encode("dev", &sample(), &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        let (h, s) = c.decode(&raw, "state", "dev").unwrap();
        assert_eq!(h.serial, 3);
        assert_eq!(s, {
            let mut x = sample();
            x.lineage = s.lineage;
            x
        });
    }

    #[test]
    fn encrypted_hides_payload_and_needs_key() {
        let c = Codec::new(Some("pass"));
        let st = sample();
        let raw = c
            .encode("dev", &st, &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        assert!(!raw.contains("secret"));
        assert_eq!(c.decode(&raw, "state", "dev").unwrap().1, st);
        assert!(matches!(
            Codec::new(None).decode(&raw, "state", "dev"),
            Err(StateError::Encryption { .. })
        ));
        assert!(matches!(
            Codec::new(Some("other")).decode(&raw, "state", "dev"),
            Err(StateError::Encryption { .. })
        ));
        // Two writes of the same state use different nonces.
        let raw2 = c
            .encode("dev", &st, &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        assert_ne!(raw, raw2);
    }

    #[test]
    fn a_newer_format_is_never_encoded() {
        let mut st = sample();
        st.format_version = FORMAT_VERSION + 1;
        assert!(matches!(
            Codec::new(None).encode("dev", &st, &WriteMeta::new("state push"), Utc::now()),
            Err(StateError::UnsupportedVersion { .. })
        ));
    }

    #[test]
    fn truncation_and_tampering_are_corrupt() {
        let c = Codec::new(None);
        let raw = c
            .encode("dev", &sample(), &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        assert!(matches!(
            c.decode(&raw[..raw.len() / 2], "s", "dev"),
            Err(StateError::Corrupt { .. })
        ));
        let tampered = raw.replace("secret", "public");
        assert!(matches!(
            c.decode(&tampered, "s", "dev"),
            Err(StateError::Corrupt { .. })
        ));
        let newer = raw.replace("\"terrace_state\":1", "\"terrace_state\":2");
        assert!(matches!(
            c.decode(&newer, "s", "dev"),
            Err(StateError::UnsupportedVersion { found: 2 })
        ));
    }

    /// An envelope as terrace wrote it before salted key derivation: AES key
    /// = SHA-256 of the passphrase, no associated data, no `kdf`.
    fn legacy_encrypted(state: &State, passphrase: &str) -> String {
        let key: [u8; 32] = Sha256::digest(passphrase.as_bytes()).into();
        let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
        let nonce = [7u8; 12];
        let json = serde_json::to_string(state).unwrap();
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), json.as_bytes())
            .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = b64.encode(ct);
        serde_json::to_string(&Envelope {
            terrace_state: FORMAT_VERSION,
            serial: state.serial,
            lineage: state.lineage,
            written_at: Utc::now(),
            operation: "apply".into(),
            who: "old@box".into(),
            encryption: Some(EncryptionHeader {
                algorithm: ALGORITHM.into(),
                key_id: Codec::key_id(None, &key),
                nonce: b64.encode(nonce),
                kdf: None,
            }),
            sha256: checksum(FORMAT_VERSION, state.serial, &state.lineage, &payload),
            payload,
        })
        .unwrap()
    }

    #[test]
    fn old_envelopes_still_open_and_new_ones_use_argon2id() {
        let st = sample();
        let old = legacy_encrypted(&st, "pass");
        let c = Codec::new(Some("pass"));
        assert_eq!(c.decode(&old, "state", "dev").unwrap().1, st);
        assert!(matches!(
            Codec::new(Some("other")).decode(&old, "state", "dev"),
            Err(StateError::Encryption { .. })
        ));
        let new = c
            .encode("dev", &st, &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&new).unwrap();
        let kdf = &v["encryption"]["kdf"];
        assert_eq!(kdf["name"], "argon2id", "{new}");
        assert_eq!(kdf["m_kib"], ARGON2_M_KIB);
        assert!(kdf["salt"].as_str().is_some_and(|s| s.len() >= 22));
    }

    #[test]
    fn key_id_is_no_cheap_guess_oracle() {
        // The old id was a function of SHA-256(passphrase) alone: two hashes
        // per guess. The new one depends on the salted Argon2id key, so the
        // unsalted computation no longer matches it.
        let c = Codec::new(Some("hunter2"));
        let raw = c
            .encode("dev", &sample(), &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let stored = v["encryption"]["key_id"].as_str().unwrap().to_string();
        let unsalted: [u8; 32] = Sha256::digest(b"hunter2").into();
        assert_ne!(stored, Codec::key_id(None, &unsalted));
        assert_ne!(
            stored,
            Codec::key_id(
                Some(&Kdf {
                    name: KDF_ARGON2ID.into(),
                    salt: String::new(),
                    m_kib: 0,
                    t: 0,
                    p: 0
                }),
                &unsalted
            )
        );
        // Another process (another salt) writes another key id for the same passphrase.
        let raw2 = Codec::new(Some("hunter2"))
            .encode("dev", &sample(), &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        let v2: serde_json::Value = serde_json::from_str(&raw2).unwrap();
        assert_ne!(v2["encryption"]["key_id"], v["encryption"]["key_id"]);
        assert_eq!(
            c.decode(&raw2, "state", "dev").unwrap().1.outputs,
            sample().outputs
        );
    }

    #[test]
    fn ciphertext_is_bound_to_environment_lineage_and_serial() {
        let c = Codec::new(Some("pass"));
        let raw = c
            .encode("prod", &sample(), &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        assert!(c.decode(&raw, "state", "prod").is_ok());
        let err = c
            .decode(&raw, "the state of 'staging'", "staging")
            .unwrap_err();
        assert!(matches!(err, StateError::Encryption { .. }), "{err}");
        assert!(err.to_string().contains("'staging'"), "{err}");
        // Relabelled serial (checksum recomputed, as an attacker could).
        let mut v: Envelope = serde_json::from_str(&raw).unwrap();
        v.serial = 4;
        v.sha256 = checksum(v.terrace_state, v.serial, &v.lineage, &v.payload);
        let relabelled = serde_json::to_string(&v).unwrap();
        assert!(matches!(
            c.decode(&relabelled, "state", "prod"),
            Err(StateError::Encryption { .. })
        ));
    }

    #[test]
    fn plaintext_is_refused_while_a_key_is_set_unless_migrating() {
        let raw = Codec::new(None)
            .encode("dev", &sample(), &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        let err = Codec::new(Some("pass"))
            .decode(&raw, "the state of 'dev'", "dev")
            .unwrap_err();
        assert!(matches!(err, StateError::Encryption { .. }), "{err}");
        assert!(
            err.to_string().contains("terrace state encrypt -e dev"),
            "{err}"
        );
        let migrating = Codec::with_source(Some(KeySource::Passphrase("pass".into())), true);
        assert_eq!(
            migrating.decode(&raw, "s", "dev").unwrap().1.outputs,
            sample().outputs
        );
    }

    #[test]
    fn raw_keys_round_trip_and_are_not_passphrases() {
        let raw_key = Codec::with_source(Some(KeySource::Raw([9u8; 32])), false);
        let raw = raw_key
            .encode("dev", &sample(), &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        assert!(raw.contains("\"name\":\"raw\""), "{raw}");
        assert_eq!(
            raw_key.decode(&raw, "s", "dev").unwrap().1.outputs,
            sample().outputs
        );
        assert!(matches!(
            Codec::with_source(Some(KeySource::Raw([8u8; 32])), false).decode(&raw, "s", "dev"),
            Err(StateError::Encryption { .. })
        ));
        let err = Codec::new(Some("pass"))
            .decode(&raw, "s", "dev")
            .unwrap_err();
        assert!(err.to_string().contains("TERRACE_STATE_KEY_FILE"), "{err}");
    }

    #[test]
    fn hostile_kdf_parameters_are_refused() {
        let c = Codec::new(Some("pass"));
        let raw = c
            .encode("dev", &sample(), &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        let big = raw.replace(&format!("\"m_kib\":{ARGON2_M_KIB}"), "\"m_kib\":4000000000");
        assert_ne!(big, raw);
        let err = Codec::new(Some("pass"))
            .decode(&big, "s", "dev")
            .unwrap_err();
        assert!(err.to_string().contains("exceed"), "{err}");
    }

    #[test]
    fn sealed_bytes_open_only_with_the_key_and_the_same_associated_data() {
        let sealer = Codec::new(Some("plan pass"));
        let sealed = sealer.seal_bytes(b"dev\0plan-1", b"the secret").unwrap();
        let text = serde_json::to_string(&sealed).unwrap();
        assert!(!text.contains("the secret"), "{text}");
        let back: SealedBytes = serde_json::from_str(&text).unwrap();
        // Another process (another salt) with the same passphrase opens it.
        let reader = Codec::new(Some("plan pass"));
        assert_eq!(
            reader.unseal_bytes(&back, b"dev\0plan-1").unwrap(),
            b"the secret"
        );
        let e = reader.unseal_bytes(&back, b"prod\0plan-1").unwrap_err();
        assert!(e.to_string().contains("copied from another file"), "{e}");
        let e = Codec::new(Some("other"))
            .unseal_bytes(&back, b"dev\0plan-1")
            .unwrap_err();
        assert!(e.to_string().contains("different key"), "{e}");
        let e = Codec::new(None)
            .unseal_bytes(&back, b"dev\0plan-1")
            .unwrap_err();
        assert!(e.to_string().contains("no key is set"), "{e}");
        assert!(Codec::new(None).seal_bytes(b"", b"x").is_err());
        let raw = Codec::with_source(Some(KeySource::Raw([3; 32])), false);
        let sealed = raw.seal_bytes(b"a", b"raw secret").unwrap();
        assert_eq!(raw.unseal_bytes(&sealed, b"a").unwrap(), b"raw secret");
    }
}
