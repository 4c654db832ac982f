//! hashicorp/tls certificates: `tls_self_signed_cert`, `tls_cert_request`
//! and `tls_locally_signed_cert`, built and signed by `rcgen`. A
//! certificate whose renewal time (`validity_end_time` −
//! `early_renewal_hours`) has come is planned for replacement, as upstream.

use crate::tls::Key;
use crate::util::{bool_arg, failed, int_arg, invalid, list_arg, set, str_arg};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use terrace_core::{PathStep, Value};
use terrace_provider::{AttrType, Attribute, PlannedResource, ProviderError, Schema};

pub const USES: [&str; 21] = [
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "cert_signing",
    "crl_signing",
    "encipher_only",
    "decipher_only",
    "any_extended",
    "server_auth",
    "client_auth",
    "code_signing",
    "email_protection",
    "ipsec_end_system",
    "ipsec_tunnel",
    "ipsec_user",
    "timestamping",
    "ocsp_signing",
    "microsoft_server_gated_crypto",
    "netscape_server_gated_crypto",
];

fn subject_schema() -> Schema {
    let s = || Attribute::optional(AttrType::String).force_new();
    Schema::new()
        .attr("common_name", s())
        .attr("organization", s())
        .attr("organizational_unit", s())
        .attr(
            "street_address",
            Attribute::optional(AttrType::list_of(AttrType::String)).force_new(),
        )
        .attr("locality", s())
        .attr("province", s())
        .attr("country", s())
        .attr("postal_code", s())
        .attr("serial_number", s())
        .attr("email_address", s())
}

fn names(s: Schema) -> Schema {
    let l = || Attribute::optional(AttrType::list_of(AttrType::String)).force_new();
    s.attr("dns_names", l())
        .attr("ip_addresses", l())
        .attr("uris", l())
        .list_block("subject", 0, 1, subject_schema())
}

fn signed(s: Schema) -> Schema {
    s.attr(
        "validity_period_hours",
        Attribute::required(AttrType::Number).force_new(),
    )
    .attr(
        "allowed_uses",
        Attribute::required(AttrType::list_of(AttrType::String)).force_new(),
    )
    .attr(
        "early_renewal_hours",
        Attribute::optional(AttrType::Number).default(0i64),
    )
    .attr(
        "is_ca_certificate",
        Attribute::optional(AttrType::Bool)
            .force_new()
            .default(false),
    )
    .attr(
        "set_subject_key_id",
        Attribute::optional(AttrType::Bool)
            .force_new()
            .default(false),
    )
    .attr("cert_pem", Attribute::computed(AttrType::String))
    .attr("validity_start_time", Attribute::computed(AttrType::String))
    .attr("validity_end_time", Attribute::computed(AttrType::String))
    .attr("ready_for_renewal", Attribute::computed(AttrType::Bool))
}

pub fn add_schemas(resources: &mut std::collections::BTreeMap<String, Schema>) {
    let key = || {
        Attribute::required(AttrType::String)
            .force_new()
            .sensitive()
    };
    resources.insert(
        "tls_self_signed_cert".into(),
        signed(names(
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("private_key_pem", key())
                .attr("key_algorithm", Attribute::computed(AttrType::String))
                .attr(
                    "set_authority_key_id",
                    Attribute::optional(AttrType::Bool)
                        .force_new()
                        .default(false),
                ),
        )),
    );
    resources.insert(
        "tls_cert_request".into(),
        names(
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr("private_key_pem", key())
                .attr("key_algorithm", Attribute::computed(AttrType::String))
                .attr("cert_request_pem", Attribute::computed(AttrType::String)),
        ),
    );
    resources.insert(
        "tls_locally_signed_cert".into(),
        signed(
            Schema::new()
                .attr("id", Attribute::computed(AttrType::String))
                .attr(
                    "cert_request_pem",
                    Attribute::required(AttrType::String).force_new(),
                )
                .attr("ca_private_key_pem", key())
                .attr(
                    "ca_cert_pem",
                    Attribute::required(AttrType::String).force_new(),
                )
                .attr("ca_key_algorithm", Attribute::computed(AttrType::String))
                .attr(
                    "set_authority_key_id",
                    Attribute::optional(AttrType::Bool)
                        .force_new()
                        .default(false),
                ),
        ),
    );
}

fn fmt(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// rcgen's key pair for one of our keys (through PKCS#8).
fn key_pair(key: &Key) -> Result<KeyPair, ProviderError> {
    KeyPair::from_pem(&key.pkcs8_pem()?).map_err(|e| {
        failed(
            "KeyEncoding",
            format!("the key cannot sign certificates: {e}"),
        )
    })
}

fn parse_key(v: &Value, field: &str) -> Result<Key, ProviderError> {
    let pem = str_arg(v, field).ok_or_else(|| invalid(field, format!("{field} is required")))?;
    Key::from_pem(pem).map_err(|e| {
        invalid(
            field,
            format!("{field} is not a supported private key: {e}"),
        )
    })
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    list_arg(v, key)
        .iter()
        .filter_map(|x| x.unmarked().as_str().map(str::to_string))
        .collect()
}

fn ia5(key: &str, s: &str) -> Result<rcgen::Ia5String, ProviderError> {
    rcgen::Ia5String::try_from(s.to_string())
        .map_err(|e| invalid(key, format!("{s:?} in {key}: {e}")))
}

/// Subject and alternative names from the `subject` block and name lists.
fn apply_names(v: &Value, params: &mut CertificateParams) -> Result<(), ProviderError> {
    let mut dn = DistinguishedName::new();
    if let Some(subject) = list_arg(v, "subject").first() {
        let pairs: [(&str, DnType); 6] = [
            ("country", DnType::CountryName),
            ("province", DnType::StateOrProvinceName),
            ("locality", DnType::LocalityName),
            ("organization", DnType::OrganizationName),
            ("organizational_unit", DnType::OrganizationalUnitName),
            ("common_name", DnType::CommonName),
        ];
        for (k, t) in pairs {
            if let Some(x) = str_arg(subject, k) {
                dn.push(t, x);
            }
        }
        // Attributes rcgen has no names for, by their OIDs.
        for (k, oid) in [
            ("postal_code", &[2u64, 5, 4, 17][..]),
            ("serial_number", &[2, 5, 4, 5][..]),
            ("email_address", &[1, 2, 840, 113549, 1, 9, 1][..]),
        ] {
            if let Some(x) = str_arg(subject, k) {
                dn.push(DnType::CustomDnType(oid.to_vec()), x);
            }
        }
        for street in strings(subject, "street_address") {
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 9]), street);
        }
    }
    params.distinguished_name = dn;
    let mut sans = Vec::new();
    for d in strings(v, "dns_names") {
        sans.push(SanType::DnsName(ia5("dns_names", &d)?));
    }
    for ip in strings(v, "ip_addresses") {
        let addr = ip
            .parse()
            .map_err(|_| invalid("ip_addresses", format!("{ip:?} is not an IP address")))?;
        sans.push(SanType::IpAddress(addr));
    }
    for u in strings(v, "uris") {
        sans.push(SanType::URI(ia5("uris", &u)?));
    }
    params.subject_alt_names = sans;
    Ok(())
}

/// Validity, usages, CA flag and serial number of a certificate to sign.
fn apply_signing(
    v: &Value,
    now: DateTime<Utc>,
    params: &mut CertificateParams,
) -> Result<(DateTime<Utc>, DateTime<Utc>, String), ProviderError> {
    let hours = int_arg(v, "validity_period_hours").unwrap_or(0);
    if hours < 0 {
        return Err(invalid(
            "validity_period_hours",
            "validity_period_hours must not be negative",
        ));
    }
    let end = now
        + TimeDelta::try_hours(hours)
            .ok_or_else(|| invalid("validity_period_hours", "too long"))?;
    let ts = |t: DateTime<Utc>| {
        time::OffsetDateTime::from_unix_timestamp(t.timestamp())
            .map_err(|e| invalid("validity_period_hours", e.to_string()))
    };
    params.not_before = ts(now)?;
    params.not_after = ts(end)?;
    for u in strings(v, "allowed_uses") {
        match u.as_str() {
            "digital_signature" => params.key_usages.push(KeyUsagePurpose::DigitalSignature),
            "content_commitment" => params.key_usages.push(KeyUsagePurpose::ContentCommitment),
            "key_encipherment" => params.key_usages.push(KeyUsagePurpose::KeyEncipherment),
            "data_encipherment" => params.key_usages.push(KeyUsagePurpose::DataEncipherment),
            "key_agreement" => params.key_usages.push(KeyUsagePurpose::KeyAgreement),
            "cert_signing" => params.key_usages.push(KeyUsagePurpose::KeyCertSign),
            "crl_signing" => params.key_usages.push(KeyUsagePurpose::CrlSign),
            "encipher_only" => params.key_usages.push(KeyUsagePurpose::EncipherOnly),
            "decipher_only" => params.key_usages.push(KeyUsagePurpose::DecipherOnly),
            "any_extended" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::Any),
            "server_auth" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth),
            "client_auth" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth),
            "code_signing" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::CodeSigning),
            "email_protection" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::EmailProtection),
            "timestamping" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::TimeStamping),
            "ocsp_signing" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::OcspSigning),
            "ipsec_end_system" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::Other(vec![
                    1, 3, 6, 1, 5, 5, 7, 3, 5,
                ])),
            "ipsec_tunnel" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::Other(vec![
                    1, 3, 6, 1, 5, 5, 7, 3, 6,
                ])),
            "ipsec_user" => params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::Other(vec![
                    1, 3, 6, 1, 5, 5, 7, 3, 7,
                ])),
            "microsoft_server_gated_crypto" => {
                params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::Other(vec![
                        1, 3, 6, 1, 4, 1, 311, 10, 3, 3,
                    ]))
            }
            "netscape_server_gated_crypto" => {
                params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::Other(vec![
                        2, 16, 840, 1, 113730, 4, 1,
                    ]))
            }
            other => {
                return Err(invalid(
                    "allowed_uses",
                    format!("unknown use {other:?}; expected one of {}", USES.join(", ")),
                ));
            }
        }
    }
    params.is_ca = if bool_arg(v, "is_ca_certificate", false) {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    params.use_authority_key_identifier_extension = bool_arg(v, "set_authority_key_id", false);
    let serial: [u8; 16] = rand::random();
    let mut serial = serial.to_vec();
    serial[0] &= 0x7f; // positive
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok((now, end, big_decimal(&serial)))
}

fn big_decimal(bytes: &[u8]) -> String {
    // u128 holds the 16-byte serial.
    let mut n: u128 = 0;
    for b in bytes {
        n = (n << 8) | *b as u128;
    }
    n.to_string()
}

fn set_validity(v: &mut Value, start: DateTime<Utc>, end: DateTime<Utc>) {
    set(v, "validity_start_time", fmt(start));
    set(v, "validity_end_time", fmt(end));
    set(v, "ready_for_renewal", false);
}

pub fn create(
    type_name: &str,
    planned: &Value,
    now: DateTime<Utc>,
) -> Result<Value, ProviderError> {
    let mut v = planned.clone();
    let sign_err = |e: rcgen::Error| failed("CertificateSigning", e.to_string());
    match type_name {
        "tls_self_signed_cert" => {
            let key = parse_key(planned, "private_key_pem")?;
            let kp = key_pair(&key)?;
            let mut params = CertificateParams::default();
            apply_names(planned, &mut params)?;
            let (start, end, serial) = apply_signing(planned, now, &mut params)?;
            let cert = params.self_signed(&kp).map_err(sign_err)?;
            set(&mut v, "cert_pem", cert.pem());
            set(&mut v, "key_algorithm", key.algorithm());
            set(&mut v, "id", serial);
            set_validity(&mut v, start, end);
        }
        "tls_cert_request" => {
            let key = parse_key(planned, "private_key_pem")?;
            let kp = key_pair(&key)?;
            let mut params = CertificateParams::default();
            apply_names(planned, &mut params)?;
            let csr = params.serialize_request(&kp).map_err(sign_err)?;
            let pem = csr.pem().map_err(sign_err)?;
            set(&mut v, "id", crate::util::sha1_hex(pem.as_bytes()));
            set(&mut v, "cert_request_pem", pem);
            set(&mut v, "key_algorithm", key.algorithm());
        }
        "tls_locally_signed_cert" => {
            let ca_key = parse_key(planned, "ca_private_key_pem")?;
            let ca_kp = key_pair(&ca_key)?;
            let ca_pem = str_arg(planned, "ca_cert_pem").unwrap_or_default();
            let ca_params = CertificateParams::from_ca_cert_pem(ca_pem).map_err(|e| {
                invalid(
                    "ca_cert_pem",
                    format!("ca_cert_pem is not a PEM certificate: {e}"),
                )
            })?;
            // The issuer's name and key identify it; rcgen wants it as a certificate.
            let issuer = ca_params.self_signed(&ca_kp).map_err(sign_err)?;
            let csr_pem = str_arg(planned, "cert_request_pem").unwrap_or_default();
            let mut csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| {
                invalid(
                    "cert_request_pem",
                    format!("cert_request_pem is not a PEM certificate request: {e}"),
                )
            })?;
            let (start, end, serial) = apply_signing(planned, now, &mut csr.params)?;
            let cert = csr.signed_by(&issuer, &ca_kp).map_err(sign_err)?;
            set(&mut v, "cert_pem", cert.pem());
            set(&mut v, "ca_key_algorithm", ca_key.algorithm());
            set(&mut v, "id", serial);
            set_validity(&mut v, start, end);
        }
        other => return Err(crate::unsupported_resource("tls", other)),
    }
    Ok(v)
}

/// Plan-time checks, and replacement once the renewal time has come.
pub fn adjust_plan(
    type_name: &str,
    prior: Option<&Value>,
    planned: &mut PlannedResource,
    now: DateTime<Utc>,
) -> Result<(), ProviderError> {
    let p = &planned.planned;
    if type_name != "tls_cert_request" {
        for u in strings(p, "allowed_uses") {
            if !USES.contains(&u.as_str()) {
                return Err(invalid(
                    "allowed_uses",
                    format!("unknown use {u:?}; expected one of {}", USES.join(", ")),
                ));
            }
        }
    }
    for field in ["private_key_pem", "ca_private_key_pem"] {
        if p.get(field)
            .is_some_and(|x| x.unmarked().as_str().is_some())
        {
            parse_key(p, field)?;
        }
    }
    if let Some(prior) = prior
        && planned.requires_replace.is_empty()
        && let Some(end) = str_arg(prior, "validity_end_time")
        && let Ok(end) = DateTime::parse_from_rfc3339(end)
    {
        let early = int_arg(p, "early_renewal_hours").unwrap_or(0);
        let renew_at = end.with_timezone(&Utc) - TimeDelta::try_hours(early).unwrap_or_default();
        if now >= renew_at {
            planned
                .requires_replace
                .push(vec![PathStep::Key("ready_for_renewal".into())]);
            let mut fresh = planned.planned.clone();
            for k in ["cert_pem", "validity_start_time", "validity_end_time", "id"] {
                set(&mut fresh, k, Value::Unknown);
            }
            set(&mut fresh, "ready_for_renewal", false);
            planned.planned = fresh;
        }
    }
    Ok(())
}
