//! The stored form of a state version: the state JSON wrapped in an envelope
//! with a format version, the serial and lineage, who wrote it, a SHA-256
//! checksum, and optionally AES-256-GCM encryption of the state JSON.
//!
//! ```json
//! {"terrace_state": 1, "serial": 7, "lineage": "…", "written_at": "…",
//!  "operation": "apply", "who": "alice@ci-7",
//!  "encryption": null | {"algorithm": "AES-256-GCM", "key_id": "…", "nonce": "…"},
//!  "sha256": "<hex over version, serial, lineage and payload>",
//!  "payload": "<state JSON, or base64 ciphertext>"}
//! ```
//!
//! Every store keeps exactly this text, so corruption, version and key checks
//! behave identically everywhere.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StateError;
use crate::model::{FORMAT_VERSION, State, WriteMeta};

const ALGORITHM: &str = "AES-256-GCM";

#[derive(Serialize, Deserialize)]
struct Envelope {
    terrace_state: u32,
    serial: u64,
    lineage: uuid::Uuid,
    written_at: DateTime<Utc>,
    operation: String,
    who: String,
    encryption: Option<EncryptionHeader>,
    sha256: String,
    payload: String,
}

#[derive(Serialize, Deserialize)]
struct EncryptionHeader {
    algorithm: String,
    key_id: String,
    nonce: String,
}

/// What a store needs to know about a stored version without decrypting it.
#[derive(Clone, Debug)]
pub(crate) struct Header {
    pub serial: u64,
    pub lineage: uuid::Uuid,
    pub written_at: DateTime<Utc>,
    pub operation: String,
    pub who: String,
    /// `Some(key id)` when the payload is encrypted.
    pub key_id: Option<String>,
}

/// Encodes and decodes envelopes with an optional encryption key.
#[derive(Clone)]
pub(crate) struct Codec {
    key: Option<([u8; 32], String)>,
}

impl Codec {
    /// A codec for the passphrase (`TERRACE_STATE_KEY`), if any. The AES key is
    /// SHA-256 of the passphrase; the key id (stored, not secret) is a hash of the key.
    pub fn new(passphrase: Option<&str>) -> Codec {
        Codec {
            key: passphrase.map(|p| {
                let key: [u8; 32] = Sha256::digest(p.as_bytes()).into();
                let mut h = Sha256::new();
                h.update(b"terrace state key id\0");
                h.update(key);
                let id = hex::encode(&h.finalize()[..8]);
                (key, id)
            }),
        }
    }

    /// Encode `state` for storage.
    pub fn encode(
        &self,
        state: &State,
        meta: &WriteMeta,
        written_at: DateTime<Utc>,
    ) -> Result<String, StateError> {
        // A state claiming a newer format would be written under this
        // envelope and then be unreadable by this very version: refuse it.
        if state.format_version > FORMAT_VERSION {
            return Err(StateError::UnsupportedVersion {
                found: state.format_version,
            });
        }
        let json = serde_json::to_string(state).map_err(StateError::backend)?;
        let (payload, encryption) = match &self.key {
            None => (json, None),
            Some((key, key_id)) => {
                let cipher = Aes256Gcm::new_from_slice(key).map_err(StateError::backend)?;
                let mut nonce = [0u8; 12];
                rand::rngs::OsRng.fill_bytes(&mut nonce);
                let ct = cipher
                    .encrypt(Nonce::from_slice(&nonce), json.as_bytes())
                    .map_err(|_| StateError::Encryption {
                        detail: "encryption failed".into(),
                    })?;
                let b64 = base64::engine::general_purpose::STANDARD;
                (
                    b64.encode(ct),
                    Some(EncryptionHeader {
                        algorithm: ALGORITHM.to_string(),
                        key_id: key_id.clone(),
                        nonce: b64.encode(nonce),
                    }),
                )
            }
        };
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
        serde_json::to_string(&env).map_err(StateError::backend)
    }

    /// Check the envelope's version and checksum and return its header.
    /// Does not need the key.
    pub fn header(&self, raw: &str, what: &str) -> Result<Header, StateError> {
        Ok(self.open(raw, what)?.0)
    }

    /// Check that this codec may write over (or read) a version with this header:
    /// an encrypted version needs the same key.
    pub fn check_key(&self, header: &Header) -> Result<(), StateError> {
        match (&header.key_id, &self.key) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(StateError::Encryption {
                detail: "the stored state is encrypted and no key is set; set TERRACE_STATE_KEY to the passphrase \
                         it was written with"
                    .into(),
            }),
            (Some(stored), Some((_, ours))) if stored != ours => Err(StateError::Encryption {
                detail: format!(
                    "the stored state was encrypted with a different key (key id {stored}, TERRACE_STATE_KEY gives \
                     {ours}); set TERRACE_STATE_KEY to the passphrase it was written with"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Decode a stored version fully.
    pub fn decode(&self, raw: &str, what: &str) -> Result<(Header, State), StateError> {
        let (header, env) = self.open(raw, what)?;
        self.check_key(&header)?;
        let json = match (&env.encryption, &self.key) {
            (None, _) => env.payload.into_bytes(),
            (Some(enc), Some((key, _))) => {
                let corrupt = |detail: String| StateError::Corrupt {
                    what: what.to_string(),
                    detail,
                };
                if enc.algorithm != ALGORITHM {
                    return Err(StateError::Encryption {
                        detail: format!(
                            "unknown encryption algorithm '{}'; upgrade terrace",
                            enc.algorithm
                        ),
                    });
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
                let cipher = Aes256Gcm::new_from_slice(key).map_err(StateError::backend)?;
                cipher.decrypt(Nonce::from_slice(&nonce), ct.as_ref()).map_err(|_| StateError::Encryption {
                    detail: "decryption failed although the key id matches; the stored state was tampered with or \
                             the key is wrong"
                        .into(),
                })?
            }
            (Some(_), None) => unreachable!("check_key rejects encrypted state without key"),
        };
        let probe: serde_json::Value =
            serde_json::from_slice(&json).map_err(|e| StateError::Corrupt {
                what: what.to_string(),
                detail: format!("state JSON: {e}"),
            })?;
        if let Some(v) = probe.get("format_version").and_then(|v| v.as_u64())
            && v > u64::from(FORMAT_VERSION)
        {
            return Err(StateError::UnsupportedVersion {
                found: u32::try_from(v).unwrap_or(u32::MAX),
            });
        }
        let state: State = serde_json::from_value(probe).map_err(|e| StateError::Corrupt {
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

    fn open(&self, raw: &str, what: &str) -> Result<(Header, Envelope), StateError> {
        let corrupt = |detail: String| StateError::Corrupt {
            what: what.to_string(),
            detail,
        };
        let probe: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| corrupt(format!("not a complete JSON document ({e})")))?;
        let version = probe
            .get("terrace_state")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| {
                corrupt("not a terrace state envelope (no 'terrace_state' version)".into())
            })?;
        if version != u64::from(FORMAT_VERSION) {
            return Err(StateError::UnsupportedVersion {
                found: u32::try_from(version).unwrap_or(u32::MAX),
            });
        }
        let env: Envelope =
            serde_json::from_value(probe).map_err(|e| corrupt(format!("bad envelope: {e}")))?;
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
            key_id: env.encryption.as_ref().map(|e| e.key_id.clone()),
        };
        Ok((header, env))
    }
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
            .encode(&sample(), &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        let (h, s) = c.decode(&raw, "state").unwrap();
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
        let raw = c.encode(&st, &WriteMeta::new("apply"), Utc::now()).unwrap();
        assert!(!raw.contains("secret"));
        assert_eq!(c.decode(&raw, "state").unwrap().1, st);
        assert!(matches!(
            Codec::new(None).decode(&raw, "state"),
            Err(StateError::Encryption { .. })
        ));
        assert!(matches!(
            Codec::new(Some("other")).decode(&raw, "state"),
            Err(StateError::Encryption { .. })
        ));
        // Two writes of the same state use different nonces.
        let raw2 = c.encode(&st, &WriteMeta::new("apply"), Utc::now()).unwrap();
        assert_ne!(raw, raw2);
    }

    #[test]
    fn a_newer_format_is_never_encoded() {
        let mut st = sample();
        st.format_version = FORMAT_VERSION + 1;
        assert!(matches!(
            Codec::new(None).encode(&st, &WriteMeta::new("state push"), Utc::now()),
            Err(StateError::UnsupportedVersion { .. })
        ));
    }

    #[test]
    fn truncation_and_tampering_are_corrupt() {
        let c = Codec::new(None);
        let raw = c
            .encode(&sample(), &WriteMeta::new("apply"), Utc::now())
            .unwrap();
        assert!(matches!(
            c.decode(&raw[..raw.len() / 2], "s"),
            Err(StateError::Corrupt { .. })
        ));
        let tampered = raw.replace("secret", "public");
        assert!(matches!(
            c.decode(&tampered, "s"),
            Err(StateError::Corrupt { .. })
        ));
        let newer = raw.replace("\"terrace_state\":1", "\"terrace_state\":2");
        assert!(matches!(
            c.decode(&newer, "s"),
            Err(StateError::UnsupportedVersion { found: 2 })
        ));
    }
}
