//! hashicorp/tls: `tls_private_key` and the data source `tls_public_key`
//! (certificates are in `certs`).
//! Keys are generated and encoded by RustCrypto (`rsa`, `p256`, `p384`,
//! `ed25519-dalek`): RSA private keys as PKCS#1 PEM, ECDSA as SEC1 PEM,
//! ED25519 as PKCS#8 PEM (as upstream), public keys as SPKI PEM and in
//! OpenSSH's `authorized_keys` format with MD5 and SHA-256 fingerprints.

use crate::Kind;
use crate::util::{b64, int_arg, invalid, set, sha1_hex, str_arg};
use async_trait::async_trait;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use md5::Digest as _;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
use rsa::pkcs8::LineEnding;
use rsa::traits::PublicKeyParts as _;
use std::sync::OnceLock;
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, PlannedResource, ProviderError, ProviderSchema, Schema,
};

const PUBLIC_OUTPUTS: [&str; 5] = [
    "public_key_pem",
    "public_key_openssh",
    "public_key_fingerprint_md5",
    "public_key_fingerprint_sha256",
    "algorithm",
];

fn schema() -> &'static ProviderSchema {
    static S: OnceLock<ProviderSchema> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = ProviderSchema::default();
        let secret = || Attribute::computed(AttrType::String).sensitive();
        let computed = || Attribute::computed(AttrType::String);
        s.resources.insert(
            "tls_private_key".into(),
            Schema::new()
                .attr("id", computed())
                .attr(
                    "algorithm",
                    Attribute::required(AttrType::String).force_new(),
                )
                .attr(
                    "rsa_bits",
                    Attribute::optional(AttrType::Number)
                        .force_new()
                        .default(2048i64),
                )
                .attr(
                    "ecdsa_curve",
                    Attribute::optional(AttrType::String)
                        .force_new()
                        .default("P224"),
                )
                .attr("private_key_pem", secret())
                .attr("private_key_pem_pkcs8", secret())
                .attr("public_key_pem", computed())
                .attr("public_key_openssh", computed())
                .attr("public_key_fingerprint_md5", computed())
                .attr("public_key_fingerprint_sha256", computed()),
        );
        let mut data = Schema::new().attr("id", computed()).attr(
            "private_key_pem",
            Attribute::optional(AttrType::String).sensitive(),
        );
        for o in PUBLIC_OUTPUTS {
            data = data.attr(o, computed());
        }
        s.data_sources.insert("tls_public_key".into(), data);
        crate::certs::add_schemas(&mut s.resources);
        s
    })
}

/// A private key of one of the supported algorithms.
pub enum Key {
    Rsa(Box<rsa::RsaPrivateKey>),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

fn key_error(e: impl std::fmt::Display) -> ProviderError {
    crate::util::failed("KeyEncoding", e.to_string())
}

impl Key {
    pub fn generate(algorithm: &str, rsa_bits: i64, curve: &str) -> Result<Key, ProviderError> {
        let mut rng = rand::rngs::OsRng;
        match algorithm {
            "RSA" => {
                if !(1024..=16384).contains(&rsa_bits) {
                    return Err(invalid(
                        "rsa_bits",
                        format!("rsa_bits must be between 1024 and 16384, got {rsa_bits}"),
                    ));
                }
                let k = rsa::RsaPrivateKey::new(&mut rng, rsa_bits as usize).map_err(key_error)?;
                Ok(Key::Rsa(Box::new(k)))
            }
            "ECDSA" => match curve {
                "P256" => Ok(Key::P256(p256::SecretKey::random(&mut rng))),
                "P384" => Ok(Key::P384(p384::SecretKey::random(&mut rng))),
                "P224" | "P521" => Err(invalid(
                    "ecdsa_curve",
                    format!(
                        "terrace supports ecdsa_curve \"P256\" and \"P384\", not {curve:?} (the provider's default is \"P224\": set ecdsa_curve = \"P256\")"
                    ),
                )),
                other => Err(invalid(
                    "ecdsa_curve",
                    format!("ecdsa_curve must be \"P256\" or \"P384\", got {other:?}"),
                )),
            },
            "ED25519" => Ok(Key::Ed25519(Box::new(ed25519_dalek::SigningKey::generate(
                &mut rng,
            )))),
            other => Err(invalid(
                "algorithm",
                format!("algorithm must be \"RSA\", \"ECDSA\" or \"ED25519\", got {other:?}"),
            )),
        }
    }

    /// Parse PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) PEM.
    pub fn from_pem(pem: &str) -> Result<Key, String> {
        let pem = pem.trim();
        if pem.contains("BEGIN RSA PRIVATE KEY") {
            return rsa::RsaPrivateKey::from_pkcs1_pem(pem)
                .map(|k| Key::Rsa(Box::new(k)))
                .map_err(|e| e.to_string());
        }
        if pem.contains("BEGIN EC PRIVATE KEY") {
            if let Ok(k) = p256::SecretKey::from_sec1_pem(pem) {
                return Ok(Key::P256(k));
            }
            return p384::SecretKey::from_sec1_pem(pem)
                .map(Key::P384)
                .map_err(|e| format!("not a P-256 or P-384 key: {e}"));
        }
        if pem.contains("BEGIN PRIVATE KEY") {
            if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
                return Ok(Key::Rsa(Box::new(k)));
            }
            if let Ok(k) = p256::SecretKey::from_pkcs8_pem(pem) {
                return Ok(Key::P256(k));
            }
            if let Ok(k) = p384::SecretKey::from_pkcs8_pem(pem) {
                return Ok(Key::P384(k));
            }
            return ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
                .map(|k| Key::Ed25519(Box::new(k)))
                .map_err(|_| "a PKCS#8 key that is not RSA, P-256, P-384 or ED25519".to_string());
        }
        Err(
            "expected a PEM block \"RSA PRIVATE KEY\", \"EC PRIVATE KEY\" or \"PRIVATE KEY\""
                .into(),
        )
    }

    pub fn algorithm(&self) -> &'static str {
        match self {
            Key::Rsa(_) => "RSA",
            Key::P256(_) | Key::P384(_) => "ECDSA",
            Key::Ed25519(_) => "ED25519",
        }
    }

    /// The private key as upstream writes `private_key_pem`.
    pub fn private_pem(&self) -> Result<String, ProviderError> {
        Ok(match self {
            Key::Rsa(k) => k
                .to_pkcs1_pem(LineEnding::LF)
                .map_err(key_error)?
                .to_string(),
            Key::P256(k) => k
                .to_sec1_pem(LineEnding::LF)
                .map_err(key_error)?
                .to_string(),
            Key::P384(k) => k
                .to_sec1_pem(LineEnding::LF)
                .map_err(key_error)?
                .to_string(),
            Key::Ed25519(_) => self.pkcs8_pem()?,
        })
    }

    pub fn pkcs8_pem(&self) -> Result<String, ProviderError> {
        Ok(match self {
            Key::Rsa(k) => k
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(key_error)?
                .to_string(),
            Key::P256(k) => k
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(key_error)?
                .to_string(),
            Key::P384(k) => k
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(key_error)?
                .to_string(),
            Key::Ed25519(k) => k
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(key_error)?
                .to_string(),
        })
    }

    fn public_der(&self) -> Result<Vec<u8>, ProviderError> {
        let doc = match self {
            Key::Rsa(k) => k.to_public_key().to_public_key_der(),
            Key::P256(k) => k.public_key().to_public_key_der(),
            Key::P384(k) => k.public_key().to_public_key_der(),
            Key::Ed25519(k) => k.verifying_key().to_public_key_der(),
        };
        Ok(doc.map_err(key_error)?.into_vec())
    }

    fn public_pem(&self) -> Result<String, ProviderError> {
        let pem = match self {
            Key::Rsa(k) => k.to_public_key().to_public_key_pem(LineEnding::LF),
            Key::P256(k) => k.public_key().to_public_key_pem(LineEnding::LF),
            Key::P384(k) => k.public_key().to_public_key_pem(LineEnding::LF),
            Key::Ed25519(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
        };
        pem.map_err(key_error)
    }

    /// The public key in SSH wire format and its type name.
    fn ssh_public(&self) -> (&'static str, Vec<u8>) {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        let mut w = Vec::new();
        let name = match self {
            Key::Rsa(k) => {
                ssh_string(&mut w, b"ssh-rsa");
                ssh_mpint(&mut w, &k.e().to_bytes_be());
                ssh_mpint(&mut w, &k.n().to_bytes_be());
                "ssh-rsa"
            }
            Key::P256(k) => {
                ssh_string(&mut w, b"ecdsa-sha2-nistp256");
                ssh_string(&mut w, b"nistp256");
                ssh_string(&mut w, k.public_key().to_encoded_point(false).as_bytes());
                "ecdsa-sha2-nistp256"
            }
            Key::P384(k) => {
                ssh_string(&mut w, b"ecdsa-sha2-nistp384");
                ssh_string(&mut w, b"nistp384");
                ssh_string(&mut w, k.public_key().to_encoded_point(false).as_bytes());
                "ecdsa-sha2-nistp384"
            }
            Key::Ed25519(k) => {
                ssh_string(&mut w, b"ssh-ed25519");
                ssh_string(&mut w, k.verifying_key().as_bytes());
                "ssh-ed25519"
            }
        };
        (name, w)
    }

    /// Set the public outputs shared by `tls_private_key` and `tls_public_key`.
    fn fill_public(&self, v: &mut Value) -> Result<(), ProviderError> {
        let der = self.public_der()?;
        set(v, "id", sha1_hex(&der));
        set(v, "public_key_pem", self.public_pem()?);
        let (name, wire) = self.ssh_public();
        set(v, "public_key_openssh", format!("{name} {}\n", b64(&wire)));
        let md5 = md5::Md5::digest(&wire);
        let md5: Vec<String> = md5.iter().map(|b| format!("{b:02x}")).collect();
        set(v, "public_key_fingerprint_md5", md5.join(":"));
        let sha =
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(crate::util::sha256(&wire));
        set(v, "public_key_fingerprint_sha256", format!("SHA256:{sha}"));
        Ok(())
    }
}

fn ssh_string(w: &mut Vec<u8>, bytes: &[u8]) {
    w.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    w.extend_from_slice(bytes);
}

/// An SSH `mpint` of a non-negative big-endian integer.
fn ssh_mpint(w: &mut Vec<u8>, bytes: &[u8]) {
    let trimmed: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => &[],
    };
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        let mut padded = vec![0u8];
        padded.extend_from_slice(trimmed);
        ssh_string(w, &padded);
    } else {
        ssh_string(w, trimmed);
    }
}

pub struct Tls {
    clock: crate::Clock,
}

impl Tls {
    pub fn new(clock: crate::Clock) -> Self {
        Tls { clock }
    }
}

#[async_trait]
impl Kind for Tls {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn schema(&self) -> &ProviderSchema {
        schema()
    }

    fn adjust_plan(
        &self,
        type_name: &str,
        prior: Option<&Value>,
        planned: &mut PlannedResource,
    ) -> Result<(), ProviderError> {
        if type_name != "tls_private_key" {
            return crate::certs::adjust_plan(type_name, prior, planned, (self.clock)());
        }
        {
            let p = &planned.planned;
            match str_arg(p, "algorithm") {
                None | Some("RSA" | "ED25519") => {}
                Some("ECDSA") => match str_arg(p, "ecdsa_curve") {
                    None | Some("P256" | "P384") => {}
                    Some(c) => {
                        return Err(invalid(
                            "ecdsa_curve",
                            format!(
                                "terrace supports ecdsa_curve \"P256\" and \"P384\", not {c:?} (the provider's default is \"P224\": set ecdsa_curve = \"P256\")"
                            ),
                        ));
                    }
                },
                Some(other) => {
                    return Err(invalid(
                        "algorithm",
                        format!(
                            "algorithm must be \"RSA\", \"ECDSA\" or \"ED25519\", got {other:?}"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        type_name: &str,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value, ProviderError> {
        if type_name != "tls_private_key" {
            let now = (self.clock)();
            let (ty, planned) = (type_name.to_string(), planned.clone());
            return tokio::task::spawn_blocking(move || crate::certs::create(&ty, &planned, now))
                .await
                .map_err(|e| crate::util::failed("CertificateSigning", e.to_string()))?;
        }
        let algorithm = str_arg(planned, "algorithm")
            .unwrap_or_default()
            .to_string();
        let bits = int_arg(planned, "rsa_bits").unwrap_or(2048);
        let curve = str_arg(planned, "ecdsa_curve")
            .unwrap_or("P224")
            .to_string();
        let key = tokio::task::spawn_blocking(move || Key::generate(&algorithm, bits, &curve))
            .await
            .map_err(|e| crate::util::failed("KeyGeneration", e.to_string()))??;
        let mut v = planned.clone();
        set(&mut v, "private_key_pem", key.private_pem()?);
        set(&mut v, "private_key_pem_pkcs8", key.pkcs8_pem()?);
        key.fill_public(&mut v)?;
        Ok(v)
    }

    async fn read_data(&self, _type_name: &str, config: &Value) -> Result<Value, ProviderError> {
        let pem = str_arg(config, "private_key_pem")
            .ok_or_else(|| invalid("private_key_pem", "private_key_pem is required"))?;
        let key = Key::from_pem(pem).map_err(|e| {
            invalid(
                "private_key_pem",
                format!("private_key_pem is not a supported private key: {e}"),
            )
        })?;
        let mut v = config.clone();
        key.fill_public(&mut v)?;
        set(&mut v, "algorithm", key.algorithm());
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpint_pads_high_bit_and_trims_zeros() {
        let mut w = Vec::new();
        ssh_mpint(&mut w, &[0x00, 0x80]);
        assert_eq!(w, vec![0, 0, 0, 2, 0x00, 0x80]);
        let mut w = Vec::new();
        ssh_mpint(&mut w, &[0x00, 0x00, 0x01, 0x00, 0x01]);
        assert_eq!(w, vec![0, 0, 0, 3, 0x01, 0x00, 0x01]);
    }
}
