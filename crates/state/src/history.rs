//! History that costs what changed: a stored version is either a full
//! envelope (the format every store has always written, see `envelope`) or a
//! *delta* on the version written just before it — the resource records and
//! outputs that differ, the addresses and output names removed, and a digest
//! of the whole state it must rebuild to.
//!
//! ```json
//! {"terrace_delta": 1, "serial": 8, "lineage": "…", "written_at": "…",
//!  "operation": "apply", "who": "alice@ci-7",
//!  "parent": "<store ref of serial 7's version>", "base": "<store ref of the full version>",
//!  "chain": 3, "chain_bytes": 4096,
//!  "encryption": null | {…as in the state envelope…},
//!  "sha256": "<hex over kind, version, serial, lineage, parent, base, chain, chain_bytes, payload>",
//!  "payload": "<delta JSON, or base64 ciphertext>"}
//! ```
//!
//! A chain starts at a full version (its *base*) and grows by one delta per
//! write; the writer starts a new base when the chain would exceed
//! [`MAX_CHAIN`] deltas or when the deltas since the base would outweigh one
//! full copy, so reading any version costs at most one full decode plus
//! [`MAX_CHAIN`] small ones, and history costs at most about twice what
//! changed. A delta is encrypted like the state (AES-256-GCM, associated data
//! binding environment, lineage, serial, parent and base), so nothing stored
//! tells which records are equal — no content hash is ever written, in
//! plaintext or otherwise; record digests live only in the writer's memory.
//! Reading a delta version rebuilds it from its base and checks the rebuilt
//! state against the digest the writer recorded (inside the payload), so a
//! chain that was relinked, reordered or partly replaced is `Corrupt`, never
//! a silently different state.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StateError;
use crate::envelope::{Codec, EncryptionHeader};
use crate::model::{FORMAT_VERSION, OutputState, ResourceState, State, WriteMeta};

/// Version of the delta document.
const DELTA_VERSION: u32 = 1;

/// At most this many deltas follow a full version before the next full one.
pub(crate) const MAX_CHAIN: u32 = 100;

/// How many versions a retention policy keeps, and for how long.
///
/// A version is removed only when no rule keeps it: it is not among the
/// newest `keep_versions` and it is older than `keep_days` (a rule that is
/// not set keeps nothing; with neither set, 90 days). The newest version
/// always stays, and so does every version a kept delta is rebuilt from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryRetention {
    pub keep_versions: Option<u32>,
    pub keep_days: Option<u32>,
}

/// Days kept when terrace.hcl sets no retention.
pub const DEFAULT_HISTORY_DAYS: u32 = 90;

impl Default for HistoryRetention {
    fn default() -> Self {
        HistoryRetention {
            keep_versions: None,
            keep_days: Some(DEFAULT_HISTORY_DAYS),
        }
    }
}

impl HistoryRetention {
    /// Which of `versions` (oldest first: write time) the policy keeps by
    /// itself, at `now`. The caller adds what kept deltas depend on.
    pub(crate) fn keeps(&self, written: &[DateTime<Utc>], now: DateTime<Utc>) -> Vec<bool> {
        let (versions, days) = match (self.keep_versions, self.keep_days) {
            (None, None) => (None, Some(DEFAULT_HISTORY_DAYS)),
            other => other,
        };
        keeps(written, now, versions, days, true)
    }

    /// What the policy keeps of a deleted environment's history (one with
    /// no current state: an ephemeral environment destroyed): only what is
    /// younger than `keep_days` (90 by default) — no newest version, no
    /// count — so its history ends once its last write is that old.
    pub(crate) fn keeps_deleted(&self, written: &[DateTime<Utc>], now: DateTime<Utc>) -> Vec<bool> {
        let days = self.keep_days.unwrap_or(DEFAULT_HISTORY_DAYS);
        keeps(written, now, None, Some(days), false)
    }
}

fn keeps(
    written: &[DateTime<Utc>],
    now: DateTime<Utc>,
    versions: Option<u32>,
    days: Option<u32>,
    keep_newest: bool,
) -> Vec<bool> {
    let n = written.len();
    written
        .iter()
        .enumerate()
        .map(|(i, at)| {
            let newest = keep_newest && i + 1 == n;
            let by_count = versions.is_some_and(|k| n - i <= k as usize);
            let by_age = days.is_some_and(|d| *at >= now - chrono::Duration::days(i64::from(d)));
            newest || by_count || by_age
        })
        .collect()
}

/// Where a stored version sits in its chain (`chain` 0: a full version).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    /// The store's reference of the version this one is a delta on.
    pub parent: String,
    /// The store's reference of the chain's full version.
    pub base: String,
    /// Deltas from the base to this version, this one included.
    pub chain: u32,
    /// Their payload bytes.
    pub chain_bytes: u64,
}

/// The header of a stored version of either kind.
#[derive(Clone, Debug)]
pub(crate) struct VersionHeader {
    pub serial: u64,
    pub lineage: uuid::Uuid,
    pub written_at: DateTime<Utc>,
    pub operation: String,
    pub who: String,
    /// `Some` for a delta.
    pub link: Option<Link>,
}

/// Digests of one version's records and outputs (in memory only).
#[derive(Clone, Debug, Default)]
pub(crate) struct Digests {
    resources: HashMap<Box<str>, [u8; 32]>,
    outputs: HashMap<Box<str>, [u8; 32]>,
    /// Over the whole state (lineage, serial, versions, every digest in order).
    whole: [u8; 32],
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The digests of `state` (each record and output serialized once).
pub(crate) fn digests(state: &State) -> Result<Digests, StateError> {
    digests_with(state, None)
}

/// The digests of `state`, given the SHA-256 of each record's JSON in
/// order where the envelope encoder already hashed them as it serialised
/// them (`None`: each record is serialised and hashed here).
pub(crate) fn digests_with(
    state: &State,
    records: Option<Vec<[u8; 32]>>,
) -> Result<Digests, StateError> {
    let records = match records {
        Some(r) => r,
        None => state
            .resources
            .iter()
            .map(|r| {
                serde_json::to_vec(r)
                    .map(|b| sha(&b))
                    .map_err(StateError::backend)
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if records.len() != state.resources.len() {
        return Err(StateError::backend(format!(
            "{} record digests for {} records",
            records.len(),
            state.resources.len()
        )));
    }
    let mut d = Digests::default();
    let mut whole = Sha256::new();
    whole.update(
        format!(
            "terrace-state-digest/v1\n{}\n{}\n{}\n{}\n",
            state.format_version, state.lineage, state.serial, state.terrace_version
        )
        .as_bytes(),
    );
    for (r, h) in state.resources.iter().zip(records) {
        whole.update(b"r");
        whole.update(h);
        d.resources.insert(r.address.as_str().into(), h);
    }
    for (name, o) in &state.outputs {
        let mut bytes = name.as_bytes().to_vec();
        bytes.push(0);
        bytes.extend(serde_json::to_vec(o).map_err(StateError::backend)?);
        let h = sha(&bytes);
        whole.update(b"o");
        whole.update(h);
        d.outputs.insert(name.as_str().into(), h);
    }
    d.whole = whole.finalize().into();
    Ok(d)
}

#[derive(Serialize, Deserialize)]
struct DeltaEnvelope {
    terrace_delta: u32,
    serial: u64,
    lineage: uuid::Uuid,
    written_at: DateTime<Utc>,
    operation: String,
    who: String,
    parent: String,
    base: String,
    chain: u32,
    chain_bytes: u64,
    encryption: Option<EncryptionHeader>,
    sha256: String,
    payload: String,
}

/// What a delta holds: enough to turn its parent into it.
#[derive(Serialize, Deserialize)]
pub(crate) struct DeltaBody {
    format_version: u32,
    terrace_version: String,
    /// Hex digest of the whole rebuilt state ([`Digests::whole`]).
    state_digest: String,
    #[serde(default)]
    set: Vec<ResourceState>,
    #[serde(default)]
    removed: Vec<String>,
    #[serde(default)]
    outputs_set: BTreeMap<String, OutputState>,
    #[serde(default)]
    outputs_removed: Vec<String>,
}

fn aad(env: &str, lineage: &uuid::Uuid, serial: u64, parent: &str, base: &str) -> Vec<u8> {
    format!("terrace-state-delta/v1\0{env}\0{lineage}\0{serial}\0{parent}\0{base}").into_bytes()
}

#[allow(clippy::too_many_arguments)]
fn checksum(
    serial: u64,
    lineage: &uuid::Uuid,
    parent: &str,
    base: &str,
    chain: u32,
    chain_bytes: u64,
    payload: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(
        format!("delta\n{DELTA_VERSION}\n{serial}\n{lineage}\n{parent}\n{base}\n{chain}\n{chain_bytes}\n")
            .as_bytes(),
    );
    h.update(payload.as_bytes());
    hex::encode(h.finalize())
}

/// The delta from `prev` to `state` (whose digests are `now`), encoded as the
/// version after `parent` (at position `prev_link` of its chain, `None`: the
/// parent is the full version `parent` itself) — or `None` when a full
/// version is the better choice: the chain is long, the parent was stored
/// with another encryption, or the deltas since the base would outweigh
/// `full_len`, the size of a full copy.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_delta(
    codec: &Codec,
    env: &str,
    state: &State,
    meta: &WriteMeta,
    written_at: DateTime<Utc>,
    prev: &Digests,
    now: &Digests,
    parent: &str,
    prev_link: Option<&Link>,
    full_len: usize,
) -> Result<Option<(String, Link)>, StateError> {
    let (base, chain, chain_bytes) = match prev_link {
        None => (parent.to_string(), 1, 0),
        Some(l) => (l.base.clone(), l.chain + 1, l.chain_bytes),
    };
    if chain > MAX_CHAIN {
        return Ok(None);
    }
    let mut body = DeltaBody {
        format_version: state.format_version,
        terrace_version: state.terrace_version.clone(),
        state_digest: hex::encode(now.whole),
        set: Vec::new(),
        removed: Vec::new(),
        outputs_set: BTreeMap::new(),
        outputs_removed: Vec::new(),
    };
    for r in &state.resources {
        if prev.resources.get(r.address.as_str()) != now.resources.get(r.address.as_str()) {
            body.set.push(r.clone());
        }
    }
    for addr in prev.resources.keys() {
        if !now.resources.contains_key(addr) {
            body.removed.push(addr.to_string());
        }
    }
    body.removed.sort();
    for (name, o) in &state.outputs {
        if prev.outputs.get(name.as_str()) != now.outputs.get(name.as_str()) {
            body.outputs_set.insert(name.clone(), o.clone());
        }
    }
    for name in prev.outputs.keys() {
        if !now.outputs.contains_key(name) {
            body.outputs_removed.push(name.to_string());
        }
    }
    body.outputs_removed.sort();
    let json = serde_json::to_vec(&body).map_err(StateError::backend)?;
    let (payload, encryption) = codec.seal(
        &aad(env, &state.lineage, state.serial, parent, &base),
        &json,
    )?;
    let chain_bytes = chain_bytes + payload.len() as u64;
    if chain_bytes > full_len as u64 {
        return Ok(None);
    }
    let link = Link {
        parent: parent.to_string(),
        base,
        chain,
        chain_bytes,
    };
    let sha256 = checksum(
        state.serial,
        &state.lineage,
        &link.parent,
        &link.base,
        link.chain,
        link.chain_bytes,
        &payload,
    );
    let doc = DeltaEnvelope {
        terrace_delta: DELTA_VERSION,
        serial: state.serial,
        lineage: state.lineage,
        written_at,
        operation: meta.operation.clone(),
        who: meta.who.clone(),
        parent: link.parent.clone(),
        base: link.base.clone(),
        chain: link.chain,
        chain_bytes: link.chain_bytes,
        encryption,
        sha256,
        payload,
    };
    Ok(Some((
        serde_json::to_string(&doc).map_err(StateError::backend)?,
        link,
    )))
}

/// Whether `raw` is a delta (else a full envelope); cheap: looks at the start.
pub(crate) fn is_delta(raw: &str) -> bool {
    raw.trim_start().starts_with("{\"terrace_delta\"")
}

fn open_delta(raw: &str, what: &str) -> Result<DeltaEnvelope, StateError> {
    let corrupt = |detail: String| StateError::Corrupt {
        what: what.to_string(),
        detail,
    };
    let probe: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| corrupt(format!("not a complete JSON document ({e})")))?;
    let version = probe
        .get("terrace_delta")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| corrupt("not a terrace history delta".into()))?;
    if version != u64::from(DELTA_VERSION) {
        return Err(StateError::UnsupportedVersion {
            found: u32::try_from(version).unwrap_or(u32::MAX),
        });
    }
    let doc: DeltaEnvelope =
        serde_json::from_value(probe).map_err(|e| corrupt(format!("bad delta: {e}")))?;
    let expected = checksum(
        doc.serial,
        &doc.lineage,
        &doc.parent,
        &doc.base,
        doc.chain,
        doc.chain_bytes,
        &doc.payload,
    );
    if expected != doc.sha256 {
        return Err(corrupt(format!(
            "checksum mismatch (stored {}, computed {expected})",
            doc.sha256
        )));
    }
    Ok(doc)
}

/// The header of a stored version of either kind (checksum checked; no key needed).
pub(crate) fn header(codec: &Codec, raw: &str, what: &str) -> Result<VersionHeader, StateError> {
    if !is_delta(raw) {
        let h = codec.header(raw, what)?;
        return Ok(VersionHeader {
            serial: h.serial,
            lineage: h.lineage,
            written_at: h.written_at,
            operation: h.operation,
            who: h.who,
            link: None,
        });
    }
    let d = open_delta(raw, what)?;
    Ok(VersionHeader {
        serial: d.serial,
        lineage: d.lineage,
        written_at: d.written_at,
        operation: d.operation,
        who: d.who,
        link: Some(Link {
            parent: d.parent,
            base: d.base,
            chain: d.chain,
            chain_bytes: d.chain_bytes,
        }),
    })
}

/// Turn `state` (the version `parent`) into the delta version `raw` of `env`.
pub(crate) fn apply_delta(
    codec: &Codec,
    state: &mut State,
    parent: &str,
    raw: &str,
    what: &str,
    env: &str,
) -> Result<(), StateError> {
    let corrupt = |detail: String| StateError::Corrupt {
        what: what.to_string(),
        detail,
    };
    let d = open_delta(raw, what)?;
    if d.parent != parent || d.lineage != state.lineage || d.serial <= state.serial {
        return Err(corrupt(format!(
            "its chain is broken: it follows '{}', but the version before it is '{parent}' (serial {})",
            d.parent, state.serial
        )));
    }
    let json = codec.unseal(
        d.encryption.as_ref(),
        &d.payload,
        &aad(env, &d.lineage, d.serial, &d.parent, &d.base),
        what,
        env,
    )?;
    let body: DeltaBody =
        serde_json::from_slice(&json).map_err(|e| corrupt(format!("delta JSON: {e}")))?;
    if body.format_version > FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion {
            found: body.format_version,
        });
    }
    state.serial = d.serial;
    state.format_version = body.format_version;
    state.terrace_version = body.terrace_version;
    let removed: std::collections::HashSet<&str> =
        body.removed.iter().map(String::as_str).collect();
    if !removed.is_empty() {
        state
            .resources
            .retain(|r| !removed.contains(r.address.as_str()));
    }
    for r in body.set {
        state.set_resource(r);
    }
    for name in &body.outputs_removed {
        state.outputs.remove(name);
    }
    state.outputs.extend(body.outputs_set);
    let got = hex::encode(digests(state)?.whole);
    if got != body.state_digest {
        return Err(corrupt(format!(
            "rebuilt from its chain it does not match what was written (digest {got}, recorded {})",
            body.state_digest
        )));
    }
    Ok(())
}

/// What a store remembers of the version it wrote last (per environment),
/// so the next write can be a delta without reading it back.
#[derive(Clone, Debug)]
pub(crate) struct Memo {
    pub digests: Digests,
    /// The store's reference of that version in history.
    pub at: String,
    /// Its place in its chain (`None`: it is a full version).
    pub link: Option<Link>,
}

/// A version rebuilt from its chain, kept so that reading the versions of a
/// chain one after another (`state history`) costs one delta each.
pub(crate) struct Rebuilt {
    pub env: String,
    pub base: String,
    pub at: String,
    pub state: State,
}

/// One stored version as pruning sees it.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    /// The store's reference of this version.
    pub at: String,
    pub serial: u64,
    pub written_at: DateTime<Utc>,
    /// The chain's full version, for a delta.
    pub base: Option<String>,
}

/// Which of `versions` (oldest first) pruning removes: those `policy` does
/// not keep and no kept delta is rebuilt from (a kept delta needs its base
/// and every delta of its chain with a lower serial).
/// `deleted`: the environment has no current state (see
/// [`HistoryRetention::keeps_deleted`]).
pub(crate) fn prune_plan(
    versions: &[Stored],
    policy: &HistoryRetention,
    now: DateTime<Utc>,
    deleted: bool,
) -> Vec<usize> {
    let written: Vec<DateTime<Utc>> = versions.iter().map(|v| v.written_at).collect();
    let mut keep = if deleted {
        policy.keeps_deleted(&written, now)
    } else {
        policy.keeps(&written, now)
    };
    // Per chain (by base), the highest serial a kept delta has.
    let mut needed: HashMap<&str, u64> = HashMap::new();
    for (v, k) in versions.iter().zip(&keep) {
        if let (true, Some(base)) = (*k, &v.base) {
            let e = needed.entry(base.as_str()).or_insert(0);
            *e = (*e).max(v.serial);
        }
    }
    for (i, v) in versions.iter().enumerate() {
        let chain = v.base.as_deref().unwrap_or(v.at.as_str());
        if needed
            .get(chain)
            .is_some_and(|top| v.base.is_none() || v.serial <= *top)
        {
            keep[i] = true;
        }
    }
    keep.iter()
        .enumerate()
        .filter(|(_, k)| !**k)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(addr: &str, v: &str) -> ResourceState {
        ResourceState {
            address: addr.into(),
            mode: "managed".into(),
            type_name: "t".into(),
            provider: "p".into(),
            attributes: json!({"id": v, "big": "x".repeat(200)}).into(),
            sensitive_paths: vec![],
            dependencies: vec![],
            schema_version: 0,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn state(n: usize) -> State {
        let mut s = State::new();
        s.serial = 1;
        for i in 0..n {
            s.set_resource(res(&format!("t.r[{i}]"), "v"));
        }
        s.outputs.insert(
            "o".into(),
            OutputState {
                value: json!(1),
                sensitive: false,
            },
        );
        s
    }

    fn round_trip(codec: &Codec) {
        let s1 = state(50);
        let mut s2 = s1.clone();
        s2.serial = 2;
        s2.set_resource(res("t.r[7]", "changed"));
        s2.remove_resource("t.r[8]");
        s2.set_resource(res("t.new", "n"));
        s2.outputs.remove("o");
        s2.outputs.insert(
            "p".into(),
            OutputState {
                value: json!("secret"),
                sensitive: true,
            },
        );
        let (d1, d2) = (digests(&s1).unwrap(), digests(&s2).unwrap());
        let full = serde_json::to_string(&s2).unwrap().len();
        let (raw, link) = encode_delta(
            codec,
            "dev",
            &s2,
            &WriteMeta::new("apply"),
            Utc::now(),
            &d1,
            &d2,
            "v1",
            None,
            full,
        )
        .unwrap()
        .expect("a delta");
        assert!(raw.len() < full / 10, "{} of {full}", raw.len());
        assert_eq!(link.chain, 1);
        assert_eq!(link.base, "v1");
        let h = header(codec, &raw, "v").unwrap();
        assert_eq!((h.serial, h.link.as_ref()), (2, Some(&link)));
        let mut rebuilt = s1.clone();
        apply_delta(codec, &mut rebuilt, "v1", &raw, "v", "dev").unwrap();
        assert_eq!(rebuilt, s2);
        // Another parent, another environment, or a tampered payload: refused.
        let mut other = s1.clone();
        assert!(apply_delta(codec, &mut other, "v0", &raw, "v", "dev").is_err());
        if codec.encrypts() {
            let mut other = s1.clone();
            assert!(matches!(
                apply_delta(codec, &mut other, "v1", &raw, "v", "prod"),
                Err(StateError::Encryption { .. })
            ));
            assert!(!raw.contains("changed") && !raw.contains("t.new"), "{raw}");
        }
        let tampered = raw.replace("\"chain\":1", "\"chain\":2");
        let mut other = s1.clone();
        assert!(matches!(
            apply_delta(codec, &mut other, "v1", &tampered, "v", "dev"),
            Err(StateError::Corrupt { .. })
        ));
        // The wrong starting state does not rebuild to the recorded digest.
        let mut wrong = s1.clone();
        wrong.set_resource(res("t.r[9]", "drifted"));
        let err = apply_delta(codec, &mut wrong, "v1", &raw, "v", "dev").unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn deltas_round_trip_plain_and_encrypted() {
        round_trip(&Codec::new(None));
        round_trip(&Codec::new(Some("pass")));
    }

    #[test]
    fn a_long_chain_or_a_big_change_is_written_full() {
        let c = Codec::new(None);
        let s1 = state(20);
        let mut s2 = s1.clone();
        s2.serial = 2;
        for i in 0..20 {
            s2.set_resource(res(&format!("t.r[{i}]"), "all new"));
        }
        let (d1, d2) = (digests(&s1).unwrap(), digests(&s2).unwrap());
        let full = serde_json::to_string(&s2).unwrap().len();
        let meta = WriteMeta::new("apply");
        assert!(
            encode_delta(&c, "dev", &s2, &meta, Utc::now(), &d1, &d2, "p", None, full)
                .unwrap()
                .is_none()
        );
        let long = Link {
            parent: "p".into(),
            base: "b".into(),
            chain: MAX_CHAIN,
            chain_bytes: 0,
        };
        let mut s3 = s1.clone();
        s3.serial = 2;
        let d3 = digests(&s3).unwrap();
        assert!(
            encode_delta(
                &c,
                "dev",
                &s3,
                &meta,
                Utc::now(),
                &d1,
                &d3,
                "p",
                Some(&long),
                full
            )
            .unwrap()
            .is_none()
        );
    }

    #[test]
    fn pruning_keeps_what_kept_deltas_need() {
        let now = Utc::now();
        let v = |at: &str, serial, age: i64, base: Option<&str>| Stored {
            at: at.into(),
            serial,
            written_at: now - chrono::Duration::days(age),
            base: base.map(str::to_string),
        };
        // full a (200 days), deltas on a (150, 120 days), full d (100 days),
        // deltas on d (95, 30 days), newest delta on d.
        let versions = [
            v("a", 1, 200, None),
            v("b", 2, 150, Some("a")),
            v("c", 3, 120, Some("a")),
            v("d", 4, 100, None),
            v("e", 5, 95, Some("d")),
            v("f", 6, 30, Some("d")),
            v("g", 7, 1, Some("d")),
        ];
        // 90 days keep f and g; they need d and e; the chain on a goes.
        assert_eq!(
            prune_plan(&versions, &HistoryRetention::default(), now, false),
            [0, 1, 2]
        );
        let last = HistoryRetention {
            keep_versions: Some(1),
            keep_days: None,
        };
        assert_eq!(prune_plan(&versions, &last, now, false), [0, 1, 2]);
        let all = HistoryRetention {
            keep_versions: None,
            keep_days: Some(1000),
        };
        assert!(prune_plan(&versions, &all, now, false).is_empty());
        // A kept delta in the middle of the old chain keeps its base and predecessors only.
        let mid = HistoryRetention {
            keep_versions: None,
            keep_days: Some(160),
        };
        assert_eq!(prune_plan(&versions, &mid, now, false), Vec::<usize>::new());
        let recent_old = [
            v("a", 1, 200, None),
            v("b", 2, 150, Some("a")),
            v("c", 3, 10, Some("a")),
        ];
        assert!(prune_plan(&recent_old, &HistoryRetention::default(), now, false).is_empty());
    }

    #[test]
    fn retention_rules() {
        let now = Utc::now();
        let days = |d: i64| now - chrono::Duration::days(d);
        let written = [days(200), days(100), days(50), days(10), days(1)];
        let keep = |v, d| HistoryRetention {
            keep_versions: v,
            keep_days: d,
        };
        assert_eq!(
            HistoryRetention::default().keeps(&written, now),
            [false, false, true, true, true]
        );
        assert_eq!(
            keep(Some(2), None).keeps(&written, now),
            [false, false, false, true, true]
        );
        assert_eq!(
            keep(Some(1), Some(60)).keeps(&written, now),
            [false, false, true, true, true]
        );
        assert_eq!(
            keep(Some(4), Some(5)).keeps(&written, now),
            [false, true, true, true, true]
        );
        // The newest version always stays.
        assert_eq!(keep(None, Some(1)).keeps(&[days(500)], now), [true]);
        // ... unless the environment was deleted: then only age counts
        // (keep_days, or 90 days), not the count nor the newest.
        assert_eq!(
            keep(Some(4), Some(60)).keeps_deleted(&written, now),
            [false, false, true, true, true]
        );
        assert_eq!(
            keep(Some(4), None).keeps_deleted(&written, now),
            [false, false, true, true, true]
        );
        assert_eq!(
            keep(None, Some(1)).keeps_deleted(&[days(500)], now),
            [false]
        );
        let gone = [days(200), days(100)];
        assert_eq!(
            HistoryRetention::default().keeps_deleted(&gone, now),
            [false, false]
        );
    }
}
