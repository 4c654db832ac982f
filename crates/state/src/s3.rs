//! The S3 store. Objects under `s3://bucket/prefix/`:
//!
//! ```text
//! <env>/state.json                          current state (envelope)
//! <env>/versions/<serial>-<micros>-<r>.json  every written version (serial zero-padded):
//!                                           a full envelope, or, named
//! <env>/versions/<serial>-<micros>-<r>~<base>.json  a history delta on the version before
//!                                           it, in the chain starting at the full version <base>
//! <env>/lock.json                           the lock (LockInfo JSON)
//! <env>/journal/pending/<id>.json           intents not finished yet
//! <env>/journal/finished/<id>.json          finished intents
//! <env>/drift/<started micros>-<id>.json    drift runs
//! <env>/ledger/<id>.json                    apply ledger records
//! <env>/approvals/<plan>/<principal>.json   plan approvals (SHA-256s of plan file and principal)
//! _registry/<name>.json                     the environment registry
//! _blobs/<sha256>                           configuration snapshots (content-addressed)
//! ```
//!
//! Consistency comes from conditional PUTs: creating `state.json`/`lock.json`
//! uses `If-None-Match: *`, replacing them `If-Match: <etag of what was read>`,
//! deleting them `If-Match` as well. A lost race is a 412 (or 409) and becomes
//! `Conflict`/`Locked`/`LeaseLost` — never a silent overwrite.
//!
//! S3 has no multi-object transactions, so a write under a lease checks the
//! lease (reading `lock.json`) and then does the conditional PUT of the state.
//! If the lease expires and is taken over between the two, the new holder
//! reads the state after taking the lock and writes with `If-Match`/expected
//! serial: either it sees our write (as if we wrote before its takeover) or
//! its write conflicts. No update is lost.
//!
//! Lease expiry is decided by S3's clock, never by the clocks of the
//! machines holding or wanting the lock: a lock's lease runs from its
//! object's `Last-Modified` (written at acquire and at every renewal), and
//! "now" is the `Date` of the store's latest response plus the monotonic
//! time since. Both headers count whole seconds, so a lock is taken over
//! only once `Date - Last-Modified` exceeds the lease by a second more
//! ([`StateStore::lease_slack`]: up to two seconds late, never early).
//!
//! The version object is written after the current state; if the process dies
//! in between, `history` and `read_version` fall back to the current state, so
//! no version is ever invisible.
//!
//! Testing note: moto checks `If-None-Match`/`If-Match` and then stores the
//! object in two steps without holding a lock, so two truly simultaneous
//! conditional PUTs can both pass on moto (real S3 decides atomically). The
//! store therefore reads a freshly written lock back and only reports success
//! if it still carries its own id; this narrows moto's window to almost nothing
//! but cannot close it, so the racing-lock conformance test on moto is
//! probabilistic. The protocol itself (412 → Conflict/Locked/LeaseLost) is
//! covered deterministically by the sequential conformance cases.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};

use crate::Approval;
use crate::approvals::{check_approval, check_plan_sha256, sort_approvals};
use crate::envelope::Codec;
use crate::history::{self, HistoryRetention, Memo, Rebuilt, Stored};
use crate::ledger::{
    blob_hash, check_blob_hash, close_needed, settle_close, settle_open, sort_records, verify_blob,
};
use crate::model::validate_env_name;
use crate::{
    Acquired, DriftRun, EnvRecord, HistoryEntry, Intent, IntentStatus, LedgerQuery, LedgerRecord,
    LockInfo, LockLease, State, StateError, StateStore, StoreOptions, WriteMeta,
};

const REGISTRY: &str = "_registry/";
const BLOBS: &str = "_blobs/";

/// State in an S3 bucket (or an S3-compatible service with conditional writes).
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    codec: Codec,
    opts: StoreOptions,
    described: String,
    clock: Arc<ServerClock>,
    /// Per environment, the ETag of the `state.json` this store wrote last
    /// and what a history delta on it needs.
    written: Mutex<std::collections::HashMap<String, (String, Arc<Memo>)>>,
    rebuilt: Mutex<Option<Rebuilt>>,
}

/// A version object's key, parsed: its reference (`<serial>-<micros>-<r>`),
/// the chain's base for a delta, the serial and the write time (micros).
struct VersionKey {
    key: String,
    stem: String,
    base: Option<String>,
    serial: u64,
    micros: i64,
}

fn parse_version_key(key: &str) -> Option<VersionKey> {
    let name = key.rsplit('/').next()?.strip_suffix(".json")?;
    let (stem, base) = match name.split_once('~') {
        Some((s, b)) => (s, Some(b.to_string())),
        None => (name, None),
    };
    let mut it = stem.splitn(3, '-');
    let serial = it.next()?.parse().ok()?;
    let micros = it.next()?.parse().ok()?;
    it.next()?;
    Some(VersionKey {
        key: key.to_string(),
        stem: stem.to_string(),
        base,
        serial,
        micros,
    })
}

/// S3's clock as its responses tell it: the latest `Date` header seen and
/// when (monotonically) it was seen.
#[derive(Debug, Default)]
struct ServerClock {
    seen: Mutex<Option<(DateTime<Utc>, Instant)>>,
}

impl ServerClock {
    fn observe(&self, date: &str) {
        if let Ok(t) = DateTime::parse_from_rfc2822(date) {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            *seen = Some((t.with_timezone(&Utc), Instant::now()));
        }
    }

    /// The server's "now", if a response has told it (at most a second behind).
    fn now(&self) -> Option<DateTime<Utc>> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.map(|(t, at)| {
            t + chrono::Duration::from_std(at.elapsed()).unwrap_or(chrono::Duration::zero())
        })
    }
}

/// Feeds every response's `Date` header to the store's [`ServerClock`].
#[derive(Debug)]
struct WatchDate(Arc<ServerClock>);

impl Intercept for WatchDate {
    fn name(&self) -> &'static str {
        "terrace-s3-server-clock"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(date) = context.response().headers().get("date") {
            self.0.observe(date);
        }
        Ok(())
    }
}

/// An S3 error as one line of text: its code and message, else its HTTP
/// status, else its causes — never the SDK's `Debug` dump.
fn sdk_error_text<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    match (e.code(), e.message(), status) {
        (Some(code), Some(message), _) => format!("{code}: {message}"),
        (Some(code), None, _) => code.to_string(),
        (None, _, Some(status)) => format!("HTTP {status}"),
        (None, _, None) => {
            let mut parts: Vec<String> = Vec::new();
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
            while let Some(err) = source {
                let text = err.to_string();
                if !parts.iter().any(|p| p.contains(&text)) {
                    parts.push(text);
                }
                source = err.source();
            }
            parts.join(": ")
        }
    }
}

/// The resolution of S3's `Date` and `Last-Modified` headers.
const S3_CLOCK_SLACK: Duration = Duration::from_secs(2);

/// A lock object as read: the holder, its ETag, and when S3 last wrote it.
struct LockObject {
    info: LockInfo,
    etag: String,
    modified: Option<DateTime<Utc>>,
}

enum Cond<'a> {
    None,
    IfNoneMatch,
    IfMatch(&'a str),
}

enum Fail {
    Precondition,
    NotFound,
    Other(StateError),
}

impl S3Store {
    /// Open `s3://bucket/prefix` with credentials and region from the
    /// standard AWS chain (`AWS_ENDPOINT_URL` honoured, path-style addressing).
    pub async fn open(
        bucket: &str,
        prefix: &str,
        opts: StoreOptions,
    ) -> Result<S3Store, StateError> {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let mut conf = aws_sdk_s3::config::Builder::from(&shared).force_path_style(true);
        if shared.region().is_none() {
            conf = conf.region(aws_sdk_s3::config::Region::new("us-east-1"));
        }
        S3Store::connect(Client::from_conf(conf.build()), bucket, prefix, opts).await
    }

    /// Use an already configured client; checks that the bucket exists.
    pub async fn connect(
        client: Client,
        bucket: &str,
        prefix: &str,
        opts: StoreOptions,
    ) -> Result<S3Store, StateError> {
        opts.validate()?;
        let prefix = prefix.trim_matches('/');
        let described = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        let clock = Arc::new(ServerClock::default());
        let client = Client::from_conf(
            client
                .config()
                .to_builder()
                .interceptor(WatchDate(clock.clone()))
                .build(),
        );
        let store = S3Store {
            written: Mutex::new(std::collections::HashMap::new()),
            rebuilt: Mutex::new(None),
            clock,
            client,
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            codec: opts.codec(),
            opts,
            described,
        };
        match store.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(store),
            Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => Err(StateError::Config {
                    detail: format!(
                        "the bucket '{bucket}' does not exist; create it first (terrace does not create it)"
                    ),
                }),
                Some(403) => Err(StateError::Config {
                    detail: format!(
                        "access to the bucket '{bucket}' is denied; check the credentials and the bucket policy"
                    ),
                }),
                _ => Err(StateError::Unreachable {
                    store: store.described.clone(),
                    detail: sdk_error_text(&e),
                }),
            },
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The full key of `rest` under the store's prefix.
    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    fn classify<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
        &self,
        e: SdkError<E, HttpResponse>,
    ) -> Fail {
        match &e {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                return Fail::Other(StateError::Unreachable {
                    store: self.described.clone(),
                    detail: sdk_error_text(&e),
                });
            }
            _ => {}
        }
        match e.raw_response().map(|r| r.status().as_u16()) {
            Some(412) | Some(409) => Fail::Precondition,
            Some(404) => Fail::NotFound,
            // S3 unavailable (500, 503 SlowDown) after the SDK's own retries.
            Some(status) if status >= 500 => Fail::Other(StateError::Unreachable {
                store: self.described.clone(),
                detail: sdk_error_text(&e),
            }),
            _ => Fail::Other(StateError::Backend {
                detail: format!("{}: {}", self.described, sdk_error_text(&e)),
            }),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<(String, String)>, StateError> {
        Ok(self
            .get_timed(key)
            .await?
            .map(|(text, etag, _)| (text, etag)))
    }

    /// An object's text, ETag and `Last-Modified`.
    async fn get_timed(
        &self,
        key: &str,
    ) -> Result<Option<(String, String, Option<DateTime<Utc>>)>, StateError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                return match self.classify(e) {
                    Fail::NotFound => Ok(None),
                    Fail::Precondition => Err(StateError::backend(format!(
                        "unexpected precondition failure reading {key}"
                    ))),
                    Fail::Other(e) => Err(e),
                };
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let modified = out
            .last_modified()
            .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StateError::Unreachable {
                store: self.described.clone(),
                detail: e.to_string(),
            })?
            .into_bytes();
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| StateError::Corrupt {
            what: format!("{}/{key}", self.described),
            detail: "not UTF-8".into(),
        })?;
        Ok(Some((text, etag, modified)))
    }

    /// `Ok(true)` when written, `Ok(false)` when the condition failed.
    async fn put(&self, key: &str, body: String, cond: Cond<'_>) -> Result<bool, StateError> {
        Ok(self.put_etag(key, body, cond).await?.is_some())
    }

    /// [`S3Store::put`], returning the new object's ETag when written.
    async fn put_etag(
        &self,
        key: &str,
        body: String,
        cond: Cond<'_>,
    ) -> Result<Option<String>, StateError> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body.into_bytes()));
        req = match cond {
            Cond::None => req,
            Cond::IfNoneMatch => req.if_none_match("*"),
            Cond::IfMatch(etag) => req.if_match(etag),
        };
        match req.send().await {
            Ok(out) => Ok(Some(out.e_tag().unwrap_or_default().to_string())),
            Err(e) => match self.classify(e) {
                // If-Match on a key that vanished is a lost race too.
                Fail::Precondition | Fail::NotFound => Ok(None),
                Fail::Other(e) => Err(e),
            },
        }
    }

    /// `Ok(true)` when deleted, `Ok(false)` when the condition failed or the object is gone.
    async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<bool, StateError> {
        let mut req = self.client.delete_object().bucket(&self.bucket).key(key);
        if let Some(etag) = if_match {
            req = req.if_match(etag);
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) => match self.classify(e) {
                Fail::Precondition | Fail::NotFound => Ok(false),
                Fail::Other(e) => Err(e),
            },
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, StateError> {
        Ok(self.head(key).await?.is_some())
    }

    /// `Some(Last-Modified)` when the object exists (`Some(None)` when S3
    /// gave no time), `None` when it does not.
    async fn head(&self, key: &str) -> Result<Option<Option<DateTime<Utc>>>, StateError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                Ok(Some(out.last_modified().and_then(|t| {
                    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
                })))
            }
            Err(e) => match self.classify(e) {
                Fail::NotFound => Ok(None),
                Fail::Precondition => Ok(Some(None)),
                Fail::Other(e) => Err(e),
            },
        }
    }

    /// Whether any object is stored under `prefix` (one listing of one key).
    async fn any_under(&self, prefix: &str) -> Result<bool, StateError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| match self.classify(e) {
                Fail::Other(e) => e,
                _ => StateError::backend(format!("cannot list {prefix} in {}", self.described)),
            })?;
        Ok(!out.contents().is_empty())
    }

    /// Keys (and, with a delimiter, common prefixes) under `prefix`, sorted.
    async fn list(
        &self,
        prefix: &str,
        delimiter: bool,
    ) -> Result<(Vec<String>, Vec<String>), StateError> {
        let (objects, prefixes) = self.list_timed(prefix, delimiter).await?;
        Ok((objects.into_iter().map(|(k, _)| k).collect(), prefixes))
    }

    /// [`S3Store::list`] with each object's `Last-Modified`.
    #[allow(clippy::type_complexity)]
    async fn list_timed(
        &self,
        prefix: &str,
        delimiter: bool,
    ) -> Result<(Vec<(String, Option<DateTime<Utc>>)>, Vec<String>), StateError> {
        let mut keys = Vec::new();
        let mut prefixes = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix);
            if delimiter {
                req = req.delimiter("/");
            }
            if let Some(t) = &token {
                req = req.continuation_token(t);
            }
            let out = req.send().await.map_err(|e| match self.classify(e) {
                Fail::Other(e) => e,
                _ => StateError::backend(format!("cannot list {prefix} in {}", self.described)),
            })?;
            keys.extend(out.contents().iter().filter_map(|o| {
                let modified = o
                    .last_modified()
                    .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
                o.key().map(|k| (k.to_string(), modified))
            }));
            prefixes.extend(
                out.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string)),
            );
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        keys.sort();
        prefixes.sort();
        Ok((keys, prefixes))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<(T, String)>, StateError> {
        match self.get(key).await? {
            None => Ok(None),
            Some((text, etag)) => {
                let value = serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
                    what: format!("{}/{key}", self.described),
                    detail: e.to_string(),
                })?;
                Ok(Some((value, etag)))
            }
        }
    }

    fn ledger_key(&self, env: &str, id: &str) -> Result<String, StateError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(StateError::backend(format!(
                "'{id}' is not a ledger record id"
            )));
        }
        Ok(self.key(&format!("{env}/ledger/{id}.json")))
    }

    /// The keys of every ledger record of `env`, or of every environment.
    async fn ledger_keys(&self, env: Option<&str>) -> Result<Vec<String>, StateError> {
        let envs = match env {
            Some(e) => vec![self.key(&format!("{e}/"))],
            None => self.list(&self.key(""), true).await?.1,
        };
        let mut keys = Vec::new();
        for prefix in envs {
            keys.extend(self.list(&format!("{prefix}ledger/"), false).await?.0);
        }
        Ok(keys)
    }

    fn state_key(&self, env: &str) -> String {
        self.key(&format!("{env}/state.json"))
    }

    /// The parsed keys of `env`'s version objects under `prefix` (a part
    /// of the name after `versions/`), sorted by key.
    async fn version_keys(&self, env: &str, prefix: &str) -> Result<Vec<VersionKey>, StateError> {
        let (keys, _) = self
            .list(&self.key(&format!("{env}/versions/{prefix}")), false)
            .await?;
        Ok(keys.iter().filter_map(|k| parse_version_key(k)).collect())
    }

    /// The key of the version object `stem` (a delta when `base` is given).
    fn version_key(&self, env: &str, stem: &str, base: Option<&str>) -> String {
        match base {
            None => self.key(&format!("{env}/versions/{stem}.json")),
            Some(b) => self.key(&format!("{env}/versions/{stem}~{b}.json")),
        }
    }

    /// What a history delta on the current state (`raw`, with `etag`) needs,
    /// when that state is of `lineage`, opens with this store's key, and its
    /// version object is stored.
    async fn delta_base(
        &self,
        env: &str,
        raw: &str,
        etag: &str,
        lineage: &uuid::Uuid,
    ) -> Result<Option<Arc<Memo>>, StateError> {
        if let Some((e, memo)) = self
            .written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(env)
            && e == etag
        {
            return Ok(Some(memo.clone()));
        }
        let what = format!("the state of '{env}'");
        let Ok(header) = self.codec.header(raw, &what) else {
            return Ok(None);
        };
        if header.lineage != *lineage || header.key.is_some() != self.codec.encrypts() {
            return Ok(None);
        }
        let Ok((_, old)) = self.codec.decode(raw, &what, env) else {
            return Ok(None);
        };
        let prefix = format!(
            "{:020}-{:020}-",
            header.serial,
            header.written_at.timestamp_micros()
        );
        // Its version object may be missing (a writer that died between the
        // two PUTs): then the next version is a full one.
        let Some(v) = self.version_keys(env, &prefix).await?.pop() else {
            return Ok(None);
        };
        let link = match &v.base {
            None => None,
            Some(_) => match self.get(&v.key).await? {
                Some((text, _)) => history::header(&self.codec, &text, &v.key)?.link,
                None => return Ok(None),
            },
        };
        Ok(Some(Arc::new(Memo {
            digests: history::digests(&old)?,
            at: v.stem,
            link,
        })))
    }

    fn remember(&self, env: &str, etag: String, memo: Memo) {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(env.to_string(), (etag, Arc::new(memo)));
    }

    /// The delta version `target` rebuilt from its chain (base `base`).
    async fn rebuild(
        &self,
        env: &str,
        target: &VersionKey,
        base: &str,
        what: &str,
    ) -> Result<State, StateError> {
        let serial_of = |stem: &str| stem.split('-').next().and_then(|s| s.parse::<u64>().ok());
        let cached = {
            let c = self.rebuilt.lock().unwrap_or_else(|p| p.into_inner());
            c.as_ref().and_then(|c| {
                let at = serial_of(&c.at)?;
                (c.env == env && c.base == base && at <= target.serial)
                    .then(|| (at, c.at.clone(), c.state.clone()))
            })
        };
        let mut chain: Vec<VersionKey> = self
            .version_keys(env, "")
            .await?
            .into_iter()
            .filter(|v| {
                (v.stem == base && v.base.is_none())
                    || (v.base.as_deref() == Some(base) && v.serial <= target.serial)
            })
            .collect();
        chain.sort_by_key(|v| (v.serial, v.base.is_some()));
        let (mut state, mut parent) = match cached {
            Some((at, stem, state)) => {
                chain.retain(|v| v.serial > at);
                (Some(state), stem)
            }
            None => (None, String::new()),
        };
        use futures::StreamExt;
        type Fetch<'a> = std::pin::Pin<
            Box<
                dyn std::future::Future<Output = Result<Option<(String, String)>, StateError>>
                    + Send
                    + 'a,
            >,
        >;
        let mut fetches: Vec<Fetch<'_>> = Vec::with_capacity(chain.len());
        for v in &chain {
            fetches.push(Box::pin(self.get(&v.key)));
        }
        let texts: Vec<_> = futures::stream::iter(fetches).buffered(16).collect().await;
        for (v, text) in chain.iter().zip(texts) {
            let Some((raw, _)) = text? else {
                return Err(StateError::Corrupt {
                    what: what.to_string(),
                    detail: format!("{} of its chain vanished while it was read", v.stem),
                });
            };
            match state.as_mut() {
                None if v.base.is_none() => state = Some(self.codec.decode(&raw, what, env)?.1),
                None => {
                    return Err(StateError::Corrupt {
                        what: what.to_string(),
                        detail: format!(
                            "the full version its chain starts from ({base}) is missing"
                        ),
                    });
                }
                Some(s) => history::apply_delta(&self.codec, s, &parent, &raw, what, env)?,
            }
            parent = v.stem.clone();
        }
        let state = match state {
            Some(s) if parent == target.stem => s,
            _ => {
                return Err(StateError::Corrupt {
                    what: what.to_string(),
                    detail: "a version of its chain is missing".into(),
                });
            }
        };
        *self.rebuilt.lock().unwrap_or_else(|p| p.into_inner()) = Some(Rebuilt {
            env: env.to_string(),
            base: base.to_string(),
            at: target.stem.clone(),
            state: state.clone(),
        });
        Ok(state)
    }

    fn lock_key(&self, env: &str) -> String {
        self.key(&format!("{env}/lock.json"))
    }

    /// S3's "now" (this machine's clock only if no response carried a `Date`).
    fn server_now(&self) -> DateTime<Utc> {
        self.clock.now().unwrap_or_else(|| self.opts.client_now())
    }

    /// The lock object of `env`, its lease end taken from S3's
    /// `Last-Modified` (the holder's clock wrote `expires_at`; S3's decides).
    async fn read_lock(&self, env: &str) -> Result<Option<LockObject>, StateError> {
        let key = self.lock_key(env);
        let Some((text, etag, modified)) = self.get_timed(&key).await? else {
            return Ok(None);
        };
        let mut info: LockInfo = serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
            what: format!("{}/{key}", self.described),
            detail: e.to_string(),
        })?;
        if let Some(m) = modified {
            info.expires_at = m + self.opts.lease_chrono();
        }
        Ok(Some(LockObject {
            info,
            etag,
            modified,
        }))
    }

    /// Whether a lock's lease has run out by S3's clock, a second of header
    /// resolution to spare (never early, at most [`S3_CLOCK_SLACK`] late).
    fn lock_expired(&self, lock: &LockObject) -> bool {
        let spare = if lock.modified.is_some() {
            chrono::Duration::seconds(1)
        } else {
            chrono::Duration::zero()
        };
        self.server_now() >= lock.info.expires_at + spare
    }

    async fn check_lease(&self, env: &str, lease: &LockLease) -> Result<(), StateError> {
        if lease.env != env {
            return Err(StateError::lease_lost(env));
        }
        match self.read_lock(env).await? {
            Some(lock) if lock.info.id == lease.lock_id && !self.lock_expired(&lock) => Ok(()),
            _ => Err(StateError::lease_lost(env)),
        }
    }

    async fn current_serial(&self, env: &str) -> Result<Option<u64>, StateError> {
        match self.get(&self.state_key(env)).await? {
            None => Ok(None),
            Some((raw, _)) => Ok(Some(
                self.codec
                    .header(&raw, &format!("the state of '{env}'"))?
                    .serial,
            )),
        }
    }

    fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StateError> {
        serde_json::to_string(value).map_err(StateError::backend)
    }
}

#[async_trait::async_trait]
impl StateStore for S3Store {
    fn describe(&self) -> String {
        self.described.clone()
    }

    fn lock_lease(&self) -> Duration {
        self.opts.lock_lease
    }

    fn lease_slack(&self) -> Duration {
        S3_CLOCK_SLACK
    }

    async fn history_environments(&self) -> Result<Vec<String>, StateError> {
        let (_, prefixes) = self.list(&self.prefix, true).await?;
        let mut envs = Vec::new();
        for p in prefixes {
            let name = p
                .strip_prefix(&self.prefix)
                .unwrap_or(&p)
                .trim_end_matches('/');
            if validate_env_name(name).is_ok()
                && self
                    .any_under(&self.key(&format!("{name}/versions/")))
                    .await?
            {
                envs.push(name.to_string());
            }
        }
        Ok(envs)
    }

    async fn list_environments(&self) -> Result<Vec<String>, StateError> {
        let (_, prefixes) = self.list(&self.prefix, true).await?;
        let mut envs = Vec::new();
        for p in prefixes {
            let name = p
                .strip_prefix(&self.prefix)
                .unwrap_or(&p)
                .trim_end_matches('/');
            if validate_env_name(name).is_ok() && self.exists(&self.state_key(name)).await? {
                envs.push(name.to_string());
            }
        }
        Ok(envs)
    }

    async fn read(&self, env: &str) -> Result<Option<State>, StateError> {
        validate_env_name(env)?;
        match self.get(&self.state_key(env)).await? {
            None => Ok(None),
            Some((raw, _)) => Ok(Some(
                self.codec
                    .decode_owned(raw, &format!("the state of '{env}'"), env)?
                    .1,
            )),
        }
    }

    async fn write(
        &self,
        env: &str,
        state: &State,
        expected_serial: Option<u64>,
        lease: Option<&LockLease>,
        meta: &WriteMeta,
    ) -> Result<(), StateError> {
        validate_env_name(env)?;
        if state.serial <= expected_serial.unwrap_or(0) {
            return Err(StateError::InvalidSerial {
                env: env.to_string(),
                expected: expected_serial,
                given: state.serial,
            });
        }
        let now = Utc::now();
        // The record digests come from the encoder's own pass over them.
        let encoded = self.codec.encode_whole(env, state, meta, now)?;
        let digests = history::digests_with(state, encoded.record_digests)?;
        let payload = encoded.first;
        if let Some(lease) = lease {
            self.check_lease(env, lease).await?;
        }
        let key = self.state_key(env);
        let current = self.get(&key).await?;
        let (found, etag) = match &current {
            None => (None, None),
            Some((raw, etag)) => {
                // Never overwrite what cannot be verified.
                let header = self.codec.header(raw, &format!("the state of '{env}'"))?;
                self.codec.check_key(&header)?;
                if expected_serial == Some(header.serial) && header.lineage != state.lineage {
                    return Err(StateError::LineageMismatch {
                        env: env.to_string(),
                        stored: header.lineage,
                        given: state.lineage,
                    });
                }
                (Some(header.serial), Some(etag.as_str()))
            }
        };
        if found != expected_serial {
            return Err(StateError::Conflict {
                env: env.to_string(),
                expected: expected_serial,
                found,
            });
        }
        // What the history delta is taken against: the current version.
        let prev = match (&current, etag) {
            (Some((raw, _)), Some(etag)) => self.delta_base(env, raw, etag, &state.lineage).await?,
            _ => None,
        };
        let cond = match etag {
            None => Cond::IfNoneMatch,
            Some(etag) => Cond::IfMatch(etag),
        };
        let Some(new_etag) = self.put_etag(&key, payload.clone(), cond).await? else {
            let found = self.current_serial(env).await.unwrap_or(None);
            return Err(StateError::Conflict {
                env: env.to_string(),
                expected: expected_serial,
                found,
            });
        };
        let stem = format!(
            "{:020}-{:020}-{}",
            state.serial,
            now.timestamp_micros(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let delta = match &prev {
            Some(m) => history::encode_delta(
                &self.codec,
                env,
                state,
                meta,
                now,
                &m.digests,
                &digests,
                &m.at,
                m.link.as_ref(),
                payload.len(),
            )?,
            None => None,
        };
        let link = match delta {
            None => {
                self.put(
                    &self.version_key(env, &stem, None),
                    payload,
                    Cond::IfNoneMatch,
                )
                .await?;
                None
            }
            Some((text, link)) => {
                self.put(
                    &self.version_key(env, &stem, Some(&link.base)),
                    text,
                    Cond::IfNoneMatch,
                )
                .await?;
                Some(link)
            }
        };
        self.remember(
            env,
            new_etag,
            Memo {
                digests,
                at: stem,
                link,
            },
        );
        Ok(())
    }

    async fn history(&self, env: &str) -> Result<Vec<HistoryEntry>, StateError> {
        validate_env_name(env)?;
        let (keys, _) = self
            .list(&self.key(&format!("{env}/versions/")), false)
            .await?;
        let mut entries = Vec::new();
        for key in keys {
            if let Some((raw, _)) = self.get(&key).await? {
                let h = history::header(&self.codec, &raw, &format!("{}/{key}", self.described))?;
                entries.push(HistoryEntry {
                    serial: h.serial,
                    lineage: h.lineage,
                    written_at: h.written_at,
                    operation: h.operation,
                    who: h.who,
                });
            }
        }
        if let Some((raw, _)) = self.get(&self.state_key(env)).await?
            && let Ok(h) = self.codec.header(&raw, "current state")
            && !entries.iter().any(|e| {
                e.serial == h.serial && e.lineage == h.lineage && e.written_at == h.written_at
            })
        {
            entries.push(HistoryEntry {
                serial: h.serial,
                lineage: h.lineage,
                written_at: h.written_at,
                operation: h.operation,
                who: h.who,
            });
        }
        entries.sort_by(|a, b| {
            a.written_at
                .cmp(&b.written_at)
                .then(a.serial.cmp(&b.serial))
        });
        Ok(entries)
    }

    async fn read_version(&self, env: &str, serial: u64) -> Result<Option<State>, StateError> {
        validate_env_name(env)?;
        let what = format!("version {serial} of '{env}'");
        let keys = self.version_keys(env, &format!("{serial:020}-")).await?;
        if let Some(v) = keys.iter().max_by_key(|v| v.micros) {
            if let Some(base) = &v.base {
                return self.rebuild(env, v, base, &what).await.map(Some);
            }
            if let Some((raw, _)) = self.get(&v.key).await? {
                return Ok(Some(self.codec.decode(&raw, &what, env)?.1));
            }
        }
        match self.get(&self.state_key(env)).await? {
            Some((raw, _)) if self.codec.header(&raw, &what)?.serial == serial => {
                Ok(Some(self.codec.decode(&raw, &what, env)?.1))
            }
            _ => Ok(None),
        }
    }

    async fn delete_environment(
        &self,
        env: &str,
        lease: Option<&LockLease>,
    ) -> Result<(), StateError> {
        validate_env_name(env)?;
        if let Some(lease) = lease {
            self.check_lease(env, lease).await?;
        }
        let key = self.state_key(env);
        for _ in 0..5 {
            match self.get(&key).await? {
                None => return Ok(()),
                Some((_, etag)) => {
                    if self.delete(&key, Some(&etag)).await? {
                        return Ok(());
                    }
                }
            }
        }
        Err(StateError::backend(format!(
            "could not delete the state of '{env}': it kept changing"
        )))
    }

    async fn replace(
        &self,
        env: &str,
        state: &State,
        lease: &LockLease,
        meta: &WriteMeta,
    ) -> Result<(), StateError> {
        validate_env_name(env)?;
        if state.serial == 0 {
            return Err(StateError::InvalidSerial {
                env: env.to_string(),
                expected: None,
                given: 0,
            });
        }
        let now = Utc::now();
        // Encoded before the store is touched: a state that cannot be
        // written changes nothing.
        // The record digests come from the encoder's own pass over them.
        let encoded = self.codec.encode_whole(env, state, meta, now)?;
        let digests = history::digests_with(state, encoded.record_digests)?;
        let payload = encoded.first;
        self.check_lease(env, lease).await?;
        let key = self.state_key(env);
        let what = format!("the state of '{env}'");
        let current = self.get(&key).await?;
        let cond = match &current {
            None => Cond::IfNoneMatch,
            Some((raw, etag)) => {
                // An unreadable state may be replaced; one encrypted with
                // another key may not.
                match self.codec.header(raw, &what) {
                    Ok(header) => self.codec.check_key(&header)?,
                    Err(StateError::Corrupt { .. } | StateError::UnsupportedVersion { .. }) => {}
                    Err(e) => return Err(e),
                }
                Cond::IfMatch(etag)
            }
        };
        // One conditional PUT: the old state is replaced, never deleted first.
        let Some(new_etag) = self.put_etag(&key, payload.clone(), cond).await? else {
            let found = self.current_serial(env).await.unwrap_or(None);
            return Err(StateError::Conflict {
                env: env.to_string(),
                expected: None,
                found,
            });
        };
        let stem = format!(
            "{:020}-{:020}-{}",
            state.serial,
            now.timestamp_micros(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        self.put(
            &self.version_key(env, &stem, None),
            payload,
            Cond::IfNoneMatch,
        )
        .await?;
        self.remember(
            env,
            new_etag,
            Memo {
                digests,
                at: stem,
                link: None,
            },
        );
        Ok(())
    }

    async fn prune_history(
        &self,
        env: &str,
        policy: &HistoryRetention,
        lease: Option<&LockLease>,
    ) -> Result<usize, StateError> {
        validate_env_name(env)?;
        if let Some(lease) = lease {
            self.check_lease(env, lease).await?;
        }
        let mut keys = self.version_keys(env, "").await?;
        keys.sort_by_key(|v| (v.micros, v.serial));
        let versions: Vec<Stored> = keys
            .iter()
            .map(|v| Stored {
                at: v.stem.clone(),
                serial: v.serial,
                written_at: DateTime::from_timestamp_micros(v.micros).unwrap_or_default(),
                base: v.base.clone(),
            })
            .collect();
        // No current state: the environment was deleted, and its history
        // ends once it is older than the retention.
        let deleted = !self.exists(&self.state_key(env)).await?;
        let doomed = history::prune_plan(&versions, policy, self.server_now(), deleted);
        for &i in &doomed {
            self.delete(&keys[i].key, None).await?;
        }
        Ok(doomed.len())
    }

    async fn acquire_lock(&self, env: &str, info: &LockInfo) -> Result<Acquired, StateError> {
        validate_env_name(env)?;
        let key = self.lock_key(env);
        for _ in 0..5 {
            let existing = self.read_lock(env).await?;
            // Read after the lock, so the clock has this response's `Date`.
            let now = self.server_now();
            let mut ours = info.clone();
            ours.created_at = now;
            ours.expires_at = now + self.opts.lease_chrono();
            let body = Self::to_json(&ours)?;
            let (written, old) = match existing {
                None => (self.put(&key, body, Cond::IfNoneMatch).await?, None),
                Some(holder) if !self.lock_expired(&holder) => {
                    return Err(StateError::locked(env, holder.info));
                }
                Some(holder) => (
                    self.put(&key, body, Cond::IfMatch(&holder.etag)).await?,
                    Some(holder.info),
                ),
            };
            if !written {
                continue;
            }
            // Read back (see the module note on moto).
            match self.read_lock(env).await? {
                Some(now_held) if now_held.info.id == ours.id => {
                    return Ok(Acquired {
                        lease: LockLease {
                            env: env.to_string(),
                            lock_id: ours.id.clone(),
                        },
                        info: now_held.info,
                        took_over: old,
                    });
                }
                Some(other) => return Err(StateError::locked(env, other.info)),
                None => continue,
            }
        }
        match self.current_lock(env).await? {
            Some(holder) => Err(StateError::locked(env, holder)),
            None => Err(StateError::backend(format!(
                "could not acquire the lock on '{env}' (contention)"
            ))),
        }
    }

    async fn renew_lock(&self, lease: &LockLease) -> Result<DateTime<Utc>, StateError> {
        let key = self.lock_key(&lease.env);
        match self.read_lock(&lease.env).await? {
            Some(mut lock) if lock.info.id == lease.lock_id => {
                // Rewriting the object moves its `Last-Modified`: that is the renewal.
                lock.info.expires_at = self.server_now() + self.opts.lease_chrono();
                if self
                    .put(&key, Self::to_json(&lock.info)?, Cond::IfMatch(&lock.etag))
                    .await?
                {
                    Ok(lock.info.expires_at)
                } else {
                    Err(StateError::lease_lost(&lease.env))
                }
            }
            _ => Err(StateError::lease_lost(&lease.env)),
        }
    }

    async fn release_lock(&self, lease: &LockLease) -> Result<(), StateError> {
        let key = self.lock_key(&lease.env);
        match self.get_json::<LockInfo>(&key).await? {
            Some((lock, etag)) if lock.id == lease.lock_id => {
                if self.delete(&key, Some(&etag)).await? {
                    Ok(())
                } else {
                    Err(StateError::lease_lost(&lease.env))
                }
            }
            _ => Err(StateError::lease_lost(&lease.env)),
        }
    }

    async fn current_lock(&self, env: &str) -> Result<Option<LockInfo>, StateError> {
        validate_env_name(env)?;
        Ok(self.read_lock(env).await?.map(|l| l.info))
    }

    async fn force_unlock(&self, env: &str, lock_id: &str) -> Result<(), StateError> {
        validate_env_name(env)?;
        let key = self.lock_key(env);
        let current = self.get_json::<LockInfo>(&key).await?;
        if let Some((lock, etag)) = &current
            && lock.id == lock_id
            && self.delete(&key, Some(etag)).await?
        {
            return Ok(());
        }
        let current = self.current_lock(env).await?.map(Box::new);
        Err(StateError::NoSuchLock {
            env: env.to_string(),
            lock_id: lock_id.to_string(),
            current,
        })
    }

    async fn journal_record(&self, intent: &Intent) -> Result<(), StateError> {
        validate_env_name(&intent.env)?;
        let folder = if intent.status == IntentStatus::Pending {
            "pending"
        } else {
            "finished"
        };
        let key = self.key(&format!(
            "{}/journal/{folder}/{}.json",
            intent.env, intent.id
        ));
        if self
            .put(&key, Self::to_json(intent)?, Cond::IfNoneMatch)
            .await?
        {
            return Ok(());
        }
        // Recording the same intent again (a retry whose first try was
        // stored, but whose answer was lost) is not an error.
        match self.get_json::<Intent>(&key).await? {
            Some((stored, _)) if stored.idempotency_token == intent.idempotency_token => Ok(()),
            _ => Err(StateError::backend(format!(
                "intent '{}' is already in the journal",
                intent.id
            ))),
        }
    }

    async fn journal_finish_many(
        &self,
        env: &str,
        intents: &[(String, IntentStatus)],
    ) -> Result<(), StateError> {
        // Each intent is its own object: move them a few at a time.
        for chunk in intents.chunks(16) {
            let moves = chunk
                .iter()
                .map(|(id, status)| self.journal_finish(env, id, *status, serde_json::Value::Null));
            futures::future::try_join_all(moves).await?;
        }
        Ok(())
    }

    async fn journal_finish(
        &self,
        env: &str,
        intent_id: &str,
        status: IntentStatus,
        detail: serde_json::Value,
    ) -> Result<(), StateError> {
        validate_env_name(env)?;
        let pending = self.key(&format!("{env}/journal/pending/{intent_id}.json"));
        let finished = self.key(&format!("{env}/journal/finished/{intent_id}.json"));
        let (mut intent, from) = match self.get_json::<Intent>(&pending).await? {
            Some((i, _)) => (i, pending.clone()),
            None => match self.get_json::<Intent>(&finished).await? {
                Some((i, _)) => (i, finished.clone()),
                None => {
                    return Err(StateError::NoSuchIntent {
                        env: env.to_string(),
                        id: intent_id.to_string(),
                    });
                }
            },
        };
        intent.status = status;
        intent.detail = detail;
        let to = if status == IntentStatus::Pending {
            pending
        } else {
            finished
        };
        self.put(&to, Self::to_json(&intent)?, Cond::None).await?;
        if from != to {
            self.delete(&from, None).await?;
        }
        Ok(())
    }

    async fn journal_pending(&self, env: &str) -> Result<Vec<Intent>, StateError> {
        validate_env_name(env)?;
        let (keys, _) = self
            .list(&self.key(&format!("{env}/journal/pending/")), false)
            .await?;
        let mut out = Vec::new();
        for key in keys {
            if let Some((intent, _)) = self.get_json::<Intent>(&key).await? {
                out.push(intent);
            }
        }
        out.sort_by(|a: &Intent, b: &Intent| {
            a.recorded_at
                .cmp(&b.recorded_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(out)
    }

    async fn record_drift_run(&self, run: &DriftRun) -> Result<(), StateError> {
        validate_env_name(&run.env)?;
        let key = self.key(&format!(
            "{}/drift/{:020}-{}.json",
            run.env,
            run.started_at.timestamp_micros(),
            run.id
        ));
        self.put(&key, Self::to_json(run)?, Cond::None).await?;
        Ok(())
    }

    async fn drift_runs(&self, env: &str, limit: usize) -> Result<Vec<DriftRun>, StateError> {
        validate_env_name(env)?;
        let (keys, _) = self
            .list(&self.key(&format!("{env}/drift/")), false)
            .await?;
        let mut out = Vec::new();
        for key in keys.iter().rev().take(limit) {
            if let Some((run, _)) = self.get_json::<DriftRun>(key).await? {
                out.push(run);
            }
        }
        Ok(out)
    }

    async fn registry_create(&self, rec: &EnvRecord) -> Result<(), StateError> {
        validate_env_name(&rec.name)?;
        let key = self.key(&format!("{REGISTRY}{}.json", rec.name));
        // A creation nonce beside the record's fields (readers ignore it) lets
        // the winner recognise its own object when reading it back (see the
        // module note on moto).
        let nonce = uuid::Uuid::new_v4().to_string();
        let mut body = serde_json::to_value(rec).map_err(StateError::backend)?;
        if let Some(m) = body.as_object_mut() {
            m.insert(
                "create_nonce".into(),
                serde_json::Value::String(nonce.clone()),
            );
        }
        let taken = || StateError::AlreadyExists {
            name: rec.name.clone(),
        };
        if !self.put(&key, body.to_string(), Cond::IfNoneMatch).await? {
            return Err(taken());
        }
        // A racing PUT that passed the same check stores right after ours.
        tokio::time::sleep(Duration::from_millis(50)).await;
        match self.get_json::<serde_json::Value>(&key).await? {
            Some((stored, _))
                if stored.get("create_nonce").and_then(|n| n.as_str()) == Some(&nonce) =>
            {
                Ok(())
            }
            _ => Err(taken()),
        }
    }

    async fn registry_put(&self, rec: &EnvRecord) -> Result<(), StateError> {
        validate_env_name(&rec.name)?;
        let key = self.key(&format!("{REGISTRY}{}.json", rec.name));
        self.put(&key, Self::to_json(rec)?, Cond::None).await?;
        Ok(())
    }

    async fn registry_replace(&self, old: &EnvRecord, new: &EnvRecord) -> Result<bool, StateError> {
        validate_env_name(&new.name)?;
        if old.name != new.name {
            return Err(StateError::backend(
                "registry_replace: old and new name differ",
            ));
        }
        let key = self.key(&format!("{REGISTRY}{}.json", new.name));
        let Some((stored, etag)) = self.get_json::<EnvRecord>(&key).await? else {
            return Ok(false);
        };
        if stored != *old {
            return Ok(false);
        }
        // If-Match: a record changed or deleted since the read is not overwritten.
        self.put(&key, Self::to_json(new)?, Cond::IfMatch(&etag))
            .await
    }

    async fn registry_get(&self, name: &str) -> Result<Option<EnvRecord>, StateError> {
        if validate_env_name(name).is_err() {
            return Ok(None);
        }
        Ok(self
            .get_json(&self.key(&format!("{REGISTRY}{name}.json")))
            .await?
            .map(|(r, _)| r))
    }

    async fn registry_list(&self) -> Result<Vec<EnvRecord>, StateError> {
        let (keys, _) = self.list(&self.key(REGISTRY), false).await?;
        let mut out = Vec::new();
        for key in keys {
            if let Some((rec, _)) = self.get_json::<EnvRecord>(&key).await? {
                out.push(rec);
            }
        }
        out.sort_by(|a: &EnvRecord, b: &EnvRecord| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn registry_delete(&self, name: &str) -> Result<(), StateError> {
        if validate_env_name(name).is_err() {
            return Ok(());
        }
        self.delete(&self.key(&format!("{REGISTRY}{name}.json")), None)
            .await?;
        Ok(())
    }

    async fn ledger_open(&self, rec: &LedgerRecord) -> Result<(), StateError> {
        validate_env_name(&rec.env)?;
        let key = self.ledger_key(&rec.env, &rec.id)?;
        if self
            .put(&key, Self::to_json(rec)?, Cond::IfNoneMatch)
            .await?
        {
            return Ok(());
        }
        let stored = self.get_json::<LedgerRecord>(&key).await?;
        settle_open(stored.map(|(r, _)| r), rec)
    }

    async fn ledger_close(&self, rec: &LedgerRecord) -> Result<(), StateError> {
        validate_env_name(&rec.env)?;
        let key = self.ledger_key(&rec.env, &rec.id)?;
        let stored = self.get_json::<LedgerRecord>(&key).await?;
        if !close_needed(stored.as_ref().map(|(r, _)| r), rec)? {
            return Ok(());
        }
        let etag = stored.map(|(_, e)| e).unwrap_or_default();
        // If-Match: a record closed by someone else since the read stays as
        // it is. A racing PUT that passed the same check on moto stores
        // right after ours (see the module note): read back to be sure.
        if self
            .put(&key, Self::to_json(rec)?, Cond::IfMatch(&etag))
            .await?
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let now = self.get_json::<LedgerRecord>(&key).await?;
        settle_close(now.map(|(r, _)| r), rec)
    }

    async fn ledger_list(&self, query: &LedgerQuery) -> Result<Vec<LedgerRecord>, StateError> {
        let mut out = Vec::new();
        for key in self.ledger_keys(query.env.as_deref()).await? {
            if let Some((rec, _)) = self.get_json::<LedgerRecord>(&key).await?
                && query.matches(&rec)
            {
                out.push(rec);
            }
        }
        sort_records(&mut out);
        Ok(out)
    }

    async fn ledger_prune(&self, env: &str, before: DateTime<Utc>) -> Result<usize, StateError> {
        validate_env_name(env)?;
        let mut n = 0;
        for key in self.ledger_keys(Some(env)).await? {
            let Some((rec, etag)) = self.get_json::<LedgerRecord>(&key).await? else {
                continue;
            };
            // If-Match: a record that changed since the read (an open one
            // closed meanwhile) is left for the next prune.
            if !rec.is_open() && rec.started_at < before && self.delete(&key, Some(&etag)).await? {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn blob_put(&self, text: &str) -> Result<String, StateError> {
        let hash = blob_hash(text);
        let key = self.key(&format!("{BLOBS}{hash}"));
        // Unconditional: a blob already stored is the same text, and
        // storing it again renews its Last-Modified, which is what a sweep
        // reads as its age (one request, as an If-None-Match put was).
        self.put(&key, text.to_string(), Cond::None).await?;
        Ok(hash)
    }

    async fn blob_sweep(
        &self,
        keep: &std::collections::BTreeSet<String>,
        touched_before: DateTime<Utc>,
    ) -> Result<usize, StateError> {
        let prefix = self.key(BLOBS);
        let old = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t < touched_before);
        let mut n = 0;
        for (key, modified) in self.list_timed(&prefix, false).await?.0 {
            let Some(hash) = key.strip_prefix(&prefix) else {
                continue;
            };
            if keep.contains(hash) || !old(modified) {
                continue;
            }
            // The age again just before the delete: a put since the listing
            // renewed the blob and it stays. (S3 cannot make the check and
            // the delete one step for objects of the same content: their
            // ETag does not change; the window is this one round trip.)
            if let Some(now) = self.head(&key).await?
                && old(now)
                && self.delete(&key, None).await?
            {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn blob_get(&self, hash: &str) -> Result<Option<String>, StateError> {
        check_blob_hash(hash)?;
        let text = self
            .get(&self.key(&format!("{BLOBS}{hash}")))
            .await?
            .map(|(t, _)| t);
        verify_blob(&self.described, hash, text)
    }

    async fn approval_add(&self, approval: &Approval) -> Result<bool, StateError> {
        check_approval(approval)?;
        let who = blob_hash(&approval.principal);
        let key = self.key(&format!(
            "{}/approvals/{}/{who}.json",
            approval.env, approval.plan_sha256
        ));
        // If-None-Match: the first approval by a principal stands.
        self.put(&key, Self::to_json(approval)?, Cond::IfNoneMatch)
            .await
    }

    async fn approvals(
        &self,
        env: &str,
        plan_sha256: Option<&str>,
    ) -> Result<Vec<Approval>, StateError> {
        validate_env_name(env)?;
        let prefix = match plan_sha256 {
            Some(h) => {
                check_plan_sha256(h)?;
                self.key(&format!("{env}/approvals/{h}/"))
            }
            None => self.key(&format!("{env}/approvals/")),
        };
        let mut out = Vec::new();
        for key in self.list(&prefix, false).await?.0 {
            if let Some((a, _)) = self.get_json::<Approval>(&key).await? {
                out.push(a);
            }
        }
        sort_approvals(&mut out);
        Ok(out)
    }

    async fn ledger_get(&self, id: &str) -> Result<Option<LedgerRecord>, StateError> {
        let suffix = format!("/ledger/{id}.json");
        for key in self.ledger_keys(None).await? {
            if key.ends_with(&suffix) {
                return Ok(self.get_json(&key).await?.map(|(r, _)| r));
            }
        }
        Ok(None)
    }
}
