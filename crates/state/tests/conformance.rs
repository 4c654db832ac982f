//! One conformance suite for every state store. Each case is an async fn
//! taking a `Backend`; the `conformance!` macro instantiates every case for
//! SQLite (tempdir), PostgreSQL (a fresh database per test) and S3 (moto, a
//! bucket per test). A missing service prints SKIP, or fails under CI=1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use chrono::{TimeZone, Utc};
use serde_json::json;
use terrace_state::*;

enum Backend {
    Sqlite {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
    },
    Postgres {
        url: String,
    },
    S3 {
        client: Client,
        bucket: String,
    },
}

const PREFIX: &str = "team/terrace";

#[path = "conformance/approvals.rs"]
mod approvals;
use approvals::plan_approvals;

fn s3_client(endpoint: &str) -> Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .force_path_style(true)
        .build();
    Client::from_conf(conf)
}

impl Backend {
    async fn sqlite() -> Option<Backend> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state/terrace.db");
        Some(Backend::Sqlite { _dir: dir, path })
    }

    async fn postgres() -> Option<Backend> {
        terrace_testkit::fresh_postgres_db().map(|url| Backend::Postgres { url })
    }

    async fn s3() -> Option<Backend> {
        let moto = terrace_testkit::shared_moto()?;
        let client = s3_client(&moto.endpoint);
        let bucket = format!("t-{}", uuid::Uuid::new_v4().simple());
        client
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
        Some(Backend::S3 { client, bucket })
    }

    async fn open(&self, opts: StoreOptions) -> Arc<dyn StateStore> {
        match self {
            Backend::Sqlite { path, .. } => Arc::new(
                SqliteStore::open(path, "test.db", opts)
                    .await
                    .expect("open sqlite"),
            ),
            Backend::Postgres { url } => {
                Arc::new(PostgresStore::open(url, opts).await.expect("open postgres"))
            }
            Backend::S3 { client, bucket } => Arc::new(
                S3Store::connect(client.clone(), bucket, PREFIX, opts)
                    .await
                    .expect("open s3"),
            ),
        }
    }

    async fn default_store(&self) -> Arc<dyn StateStore> {
        self.open(StoreOptions::default()).await
    }

    async fn with_lease(&self, lease: Duration) -> Arc<dyn StateStore> {
        self.open(StoreOptions {
            lock_lease: lease,
            ..Default::default()
        })
        .await
    }

    async fn with_key(&self, key: Option<&str>) -> Arc<dyn StateStore> {
        self.open(StoreOptions {
            encryption_key: key.map(str::to_string),
            ..Default::default()
        })
        .await
    }

    /// The stored text of `env`'s current state, read behind the store's back.
    async fn raw(&self, env: &str) -> String {
        match self {
            Backend::Sqlite { path, .. } => {
                let s = SqliteStore::open(path, "raw", StoreOptions::default())
                    .await
                    .unwrap();
                sqlx::query_scalar("SELECT payload FROM states WHERE env = $1")
                    .bind(env)
                    .fetch_one(s.pool())
                    .await
                    .unwrap()
            }
            Backend::Postgres { url } => {
                let s = PostgresStore::open(url, StoreOptions::default())
                    .await
                    .unwrap();
                sqlx::query_scalar("SELECT payload FROM states WHERE env = $1")
                    .bind(env)
                    .fetch_one(s.pool())
                    .await
                    .unwrap()
            }
            Backend::S3 { client, bucket } => {
                let out = client
                    .get_object()
                    .bucket(bucket)
                    .key(format!("{PREFIX}/{env}/state.json"))
                    .send()
                    .await
                    .unwrap();
                String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
            }
        }
    }

    /// Run `sql` on the SQL stores behind the store's back (false for S3).
    async fn exec_sql(&self, sql: &str) -> bool {
        match self {
            Backend::Sqlite { path, .. } => {
                let s = SqliteStore::open(path, "raw", StoreOptions::default())
                    .await
                    .unwrap();
                sqlx::raw_sql(sql).execute(s.pool()).await.unwrap();
                true
            }
            Backend::Postgres { url } => {
                let s = PostgresStore::open(url, StoreOptions::default())
                    .await
                    .unwrap();
                sqlx::raw_sql(sql).execute(s.pool()).await.unwrap();
                true
            }
            Backend::S3 { .. } => false,
        }
    }

    /// How many continuation parts the SQL stores hold (None for S3).
    async fn payload_part_rows(&self) -> Option<i64> {
        match self {
            Backend::Sqlite { path, .. } => {
                let s = SqliteStore::open(path, "raw", StoreOptions::default())
                    .await
                    .unwrap();
                Some(
                    sqlx::query_scalar("SELECT COUNT(*) FROM payload_parts")
                        .fetch_one(s.pool())
                        .await
                        .unwrap(),
                )
            }
            Backend::Postgres { url } => {
                let s = PostgresStore::open(url, StoreOptions::default())
                    .await
                    .unwrap();
                Some(
                    sqlx::query_scalar("SELECT COUNT(*) FROM payload_parts")
                        .fetch_one(s.pool())
                        .await
                        .unwrap(),
                )
            }
            Backend::S3 { .. } => None,
        }
    }

    /// Bytes of `env`'s stored history (every version row or object).
    async fn history_bytes(&self, env: &str) -> u64 {
        match self {
            Backend::Sqlite { path, .. } => {
                let s = SqliteStore::open(path, "raw", StoreOptions::default())
                    .await
                    .unwrap();
                let n: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM state_versions WHERE env = $1",
                )
                .bind(env)
                .fetch_one(s.pool())
                .await
                .unwrap();
                n as u64
            }
            Backend::Postgres { url } => {
                let s = PostgresStore::open(url, StoreOptions::default())
                    .await
                    .unwrap();
                let n: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(SUM(LENGTH(payload)), 0)::BIGINT FROM state_versions WHERE env = $1",
                )
                .bind(env)
                .fetch_one(s.pool())
                .await
                .unwrap();
                n as u64
            }
            Backend::S3 { client, bucket } => {
                let out = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(format!("{PREFIX}/{env}/versions/"))
                    .send()
                    .await
                    .unwrap();
                out.contents()
                    .iter()
                    .map(|o| o.size().unwrap_or(0) as u64)
                    .sum()
            }
        }
    }

    /// The raw texts of `env`'s stored history, oldest first.
    async fn history_texts(&self, env: &str) -> Vec<String> {
        match self {
            Backend::Sqlite { path, .. } => {
                let s = SqliteStore::open(path, "raw", StoreOptions::default())
                    .await
                    .unwrap();
                sqlx::query_scalar("SELECT payload FROM state_versions WHERE env = $1 ORDER BY id")
                    .bind(env)
                    .fetch_all(s.pool())
                    .await
                    .unwrap()
            }
            Backend::Postgres { url } => {
                let s = PostgresStore::open(url, StoreOptions::default())
                    .await
                    .unwrap();
                sqlx::query_scalar("SELECT payload FROM state_versions WHERE env = $1 ORDER BY id")
                    .bind(env)
                    .fetch_all(s.pool())
                    .await
                    .unwrap()
            }
            Backend::S3 { client, bucket } => {
                let out = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(format!("{PREFIX}/{env}/versions/"))
                    .send()
                    .await
                    .unwrap();
                let mut texts = Vec::new();
                for o in out.contents() {
                    let body = client
                        .get_object()
                        .bucket(bucket)
                        .key(o.key().unwrap())
                        .send()
                        .await
                        .unwrap();
                    texts.push(
                        String::from_utf8(body.body.collect().await.unwrap().into_bytes().to_vec())
                            .unwrap(),
                    );
                }
                texts
            }
        }
    }

    /// Overwrite (`Some`) or delete (`None`) the `i`th stored version of
    /// `env` (oldest first) behind the store's back.
    async fn set_history_text(&self, env: &str, i: usize, text: Option<&str>) {
        match self {
            Backend::Sqlite { .. } | Backend::Postgres { .. } => {
                let q_id = "SELECT id FROM state_versions WHERE env = $1 ORDER BY id";
                macro_rules! run {
                    ($pool:expr) => {{
                        let ids: Vec<i64> = sqlx::query_scalar(q_id)
                            .bind(env)
                            .fetch_all($pool)
                            .await
                            .unwrap();
                        match text {
                            Some(t) => {
                                sqlx::query("UPDATE state_versions SET payload = $2 WHERE id = $1")
                                    .bind(ids[i])
                                    .bind(t)
                                    .execute($pool)
                                    .await
                                    .unwrap()
                            }
                            None => sqlx::query("DELETE FROM state_versions WHERE id = $1")
                                .bind(ids[i])
                                .execute($pool)
                                .await
                                .unwrap(),
                        };
                    }};
                }
                match self {
                    Backend::Sqlite { path, .. } => {
                        let s = SqliteStore::open(path, "raw", StoreOptions::default())
                            .await
                            .unwrap();
                        run!(s.pool())
                    }
                    Backend::Postgres { url } => {
                        let s = PostgresStore::open(url, StoreOptions::default())
                            .await
                            .unwrap();
                        run!(s.pool())
                    }
                    Backend::S3 { .. } => unreachable!(),
                }
            }
            Backend::S3 { client, bucket } => {
                let out = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(format!("{PREFIX}/{env}/versions/"))
                    .send()
                    .await
                    .unwrap();
                let key = out.contents()[i].key().unwrap().to_string();
                match text {
                    Some(t) => {
                        client
                            .put_object()
                            .bucket(bucket)
                            .key(key)
                            .body(ByteStream::from(t.as_bytes().to_vec()))
                            .send()
                            .await
                            .unwrap();
                    }
                    None => {
                        client
                            .delete_object()
                            .bucket(bucket)
                            .key(key)
                            .send()
                            .await
                            .unwrap();
                    }
                }
            }
        }
    }

    /// Replace `env`'s stored history with `texts` (full envelopes), each
    /// stored as terrace wrote versions before history deltas: for the SQL
    /// stores a row without the delta columns, for S3 an object named
    /// `<serial>-<micros>-<r>.json`.
    async fn set_old_history(&self, env: &str, texts: &[String]) {
        let header = |t: &str| {
            let v: serde_json::Value = serde_json::from_str(t).unwrap();
            let serial = v["serial"].as_u64().unwrap();
            let at: chrono::DateTime<Utc> = v["written_at"].as_str().unwrap().parse().unwrap();
            (v, serial, at)
        };
        match self {
            Backend::Sqlite { .. } | Backend::Postgres { .. } => {
                let exec = |q: &'static str| async move {
                    match self {
                        Backend::Sqlite { path, .. } => {
                            let s = SqliteStore::open(path, "raw", StoreOptions::default())
                                .await
                                .unwrap();
                            sqlx::raw_sql(q).execute(s.pool()).await.unwrap();
                        }
                        Backend::Postgres { url } => {
                            let s = PostgresStore::open(url, StoreOptions::default())
                                .await
                                .unwrap();
                            sqlx::raw_sql(q).execute(s.pool()).await.unwrap();
                        }
                        Backend::S3 { .. } => unreachable!(),
                    }
                };
                exec("DELETE FROM state_versions").await;
                for t in texts {
                    let (v, serial, at) = header(t);
                    // The statement terrace ran before history deltas.
                    let q = format!(
                        "INSERT INTO state_versions (env, serial, lineage, payload, written_at, operation, who) \
                         VALUES ('{env}', {serial}, '{}', '{}', '{}', '{}', '{}')",
                        v["lineage"].as_str().unwrap(),
                        t.replace('\'', "''"),
                        match self {
                            Backend::Sqlite { .. } =>
                                at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, false),
                            _ => at.to_rfc3339(),
                        },
                        v["operation"].as_str().unwrap(),
                        v["who"].as_str().unwrap(),
                    );
                    exec(Box::leak(q.into_boxed_str())).await;
                }
            }
            Backend::S3 { client, bucket } => {
                let out = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(format!("{PREFIX}/{env}/versions/"))
                    .send()
                    .await
                    .unwrap();
                for o in out.contents() {
                    client
                        .delete_object()
                        .bucket(bucket)
                        .key(o.key().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
                for (i, t) in texts.iter().enumerate() {
                    let (_, serial, at) = header(t);
                    client
                        .put_object()
                        .bucket(bucket)
                        .key(format!(
                            "{PREFIX}/{env}/versions/{serial:020}-{:020}-old{i:05}.json",
                            at.timestamp_micros()
                        ))
                        .body(ByteStream::from(t.as_bytes().to_vec()))
                        .send()
                        .await
                        .unwrap();
                }
            }
        }
    }

    /// Replace the stored text of `env`'s current state behind the store's back.
    async fn set_raw(&self, env: &str, text: &str) {
        match self {
            Backend::Sqlite { path, .. } => {
                let s = SqliteStore::open(path, "raw", StoreOptions::default())
                    .await
                    .unwrap();
                let r = sqlx::query("UPDATE states SET payload = $2 WHERE env = $1")
                    .bind(env)
                    .bind(text)
                    .execute(s.pool());
                assert_eq!(r.await.unwrap().rows_affected(), 1);
            }
            Backend::Postgres { url } => {
                let s = PostgresStore::open(url, StoreOptions::default())
                    .await
                    .unwrap();
                let r = sqlx::query("UPDATE states SET payload = $2 WHERE env = $1")
                    .bind(env)
                    .bind(text)
                    .execute(s.pool());
                assert_eq!(r.await.unwrap().rows_affected(), 1);
            }
            Backend::S3 { client, bucket } => {
                client
                    .put_object()
                    .bucket(bucket)
                    .key(format!("{PREFIX}/{env}/state.json"))
                    .body(ByteStream::from(text.as_bytes().to_vec()))
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

fn t(secs: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_760_000_000 + secs, 0).unwrap()
}

fn state_with(serial: u64, lineage: uuid::Uuid, marker: &str) -> State {
    let mut s = State::new();
    s.lineage = lineage;
    s.serial = serial;
    s.set_resource(ResourceState {
        address: "aws_instance.web[\"a\"]".into(),
        mode: "managed".into(),
        type_name: "aws_instance".into(),
        provider: "aws".into(),
        attributes: json!({"id": format!("i-{marker}"), "tags": {"Name": marker}}).into(),
        sensitive_paths: vec![vec![terrace_core::PathStep::Key("user_data".into())]],
        dependencies: vec!["aws_subnet.a".into()],
        schema_version: 1,
        created_at: t(0),
        updated_at: t(1),
    });
    s.outputs.insert(
        "marker".into(),
        OutputState {
            value: json!(marker),
            sensitive: false,
        },
    );
    s
}

fn meta(op: &str) -> WriteMeta {
    WriteMeta {
        operation: op.into(),
        who: "tester@box".into(),
    }
}

// ---------------------------------------------------------------- cases

async fn cas_conflict(b: Backend) {
    let store = b.default_store().await;
    let lineage = uuid::Uuid::new_v4();
    assert_eq!(store.read("dev").await.unwrap(), None);
    let s1 = state_with(1, lineage, "one");
    store
        .write("dev", &s1, None, None, &meta("apply"))
        .await
        .unwrap();
    assert_eq!(store.read("dev").await.unwrap(), Some(s1.clone()));

    // A second creator loses.
    let err = store
        .write(
            "dev",
            &state_with(1, lineage, "x"),
            None,
            None,
            &meta("apply"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Conflict {
                expected: None,
                found: Some(1),
                ..
            }
        ),
        "{err}"
    );

    let s2 = state_with(2, lineage, "two");
    store
        .write("dev", &s2, Some(1), None, &meta("apply"))
        .await
        .unwrap();

    // A stale writer (still expecting serial 1) gets Conflict; state unchanged.
    let err = store
        .write(
            "dev",
            &state_with(2, lineage, "stale"),
            Some(1),
            None,
            &meta("apply"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Conflict {
                expected: Some(1),
                found: Some(2),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("expected serial 1"), "{err}");
    assert_eq!(store.read("dev").await.unwrap(), Some(s2.clone()));

    // The serial must grow, and the lineage must match.
    let err = store
        .write(
            "dev",
            &state_with(2, lineage, "same"),
            Some(2),
            None,
            &meta("apply"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::InvalidSerial { .. }), "{err}");
    let err = store
        .write(
            "dev",
            &state_with(3, uuid::Uuid::new_v4(), "other"),
            Some(2),
            None,
            &meta("apply"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::LineageMismatch { .. }), "{err}");
    assert_eq!(store.read("dev").await.unwrap(), Some(s2.clone()));

    // Racing writers from the same serial: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .write(
                    "dev",
                    &state_with(3, lineage, &format!("r{i}")),
                    Some(2),
                    None,
                    &meta("apply"),
                )
                .await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StateError::Conflict { found: Some(3), .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.read("dev").await.unwrap().unwrap().serial, 3);
    assert_eq!(store.history("dev").await.unwrap().len(), 3);

    store
        .write(
            "stage",
            &state_with(1, uuid::Uuid::new_v4(), "s"),
            None,
            None,
            &meta("apply"),
        )
        .await
        .unwrap();
    assert_eq!(store.list_environments().await.unwrap(), ["dev", "stage"]);

    let err = store.read("../etc").await.unwrap_err();
    assert!(matches!(err, StateError::Config { .. }), "{err}");
}

async fn history_and_rollback(b: Backend) {
    let store = b.default_store().await;
    let lineage = uuid::Uuid::new_v4();
    let s1 = state_with(1, lineage, "one");
    let s2 = state_with(2, lineage, "two");
    let s3 = state_with(3, lineage, "three");
    store
        .write("dev", &s1, None, None, &meta("apply"))
        .await
        .unwrap();
    store
        .write("dev", &s2, Some(1), None, &meta("apply"))
        .await
        .unwrap();
    store
        .write("dev", &s3, Some(2), None, &meta("destroy"))
        .await
        .unwrap();

    let h = store.history("dev").await.unwrap();
    assert_eq!(h.iter().map(|e| e.serial).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        h.iter().map(|e| e.operation.as_str()).collect::<Vec<_>>(),
        ["apply", "apply", "destroy"]
    );
    assert!(
        h.iter()
            .all(|e| e.who == "tester@box" && e.lineage == lineage)
    );
    assert!(h.windows(2).all(|w| w[0].written_at <= w[1].written_at));

    assert_eq!(
        store.read_version("dev", 2).await.unwrap(),
        Some(s2.clone())
    );
    assert_eq!(store.read_version("dev", 9).await.unwrap(), None);

    // Rollback = an old version written as a new serial.
    let mut back = store.read_version("dev", 1).await.unwrap().unwrap();
    back.serial = 4;
    store
        .write("dev", &back, Some(3), None, &meta("rollback"))
        .await
        .unwrap();
    let now = store.read("dev").await.unwrap().unwrap();
    assert_eq!(now.serial, 4);
    assert_eq!(now.resources, s1.resources);
    assert_eq!(now.outputs, s1.outputs);
    let h = store.history("dev").await.unwrap();
    assert_eq!(h.len(), 4);
    assert_eq!(h[3].operation, "rollback");
    assert_eq!(store.read_version("dev", 3).await.unwrap(), Some(s3));

    // Deleting keeps history; a re-created environment starts a new lineage.
    store.delete_environment("dev", None).await.unwrap();
    assert_eq!(store.read("dev").await.unwrap(), None);
    assert!(store.list_environments().await.unwrap().is_empty());
    assert_eq!(store.history("dev").await.unwrap().len(), 4);
    let fresh = state_with(1, uuid::Uuid::new_v4(), "fresh");
    store
        .write("dev", &fresh, None, None, &meta("apply"))
        .await
        .unwrap();
    assert_eq!(store.read("dev").await.unwrap(), Some(fresh.clone()));
    let h = store.history("dev").await.unwrap();
    assert_eq!(h.len(), 5);
    assert_eq!(h[4].lineage, fresh.lineage);
    assert_eq!(store.read_version("dev", 1).await.unwrap(), Some(fresh));
}

async fn lock_exclusive_race(b: Backend) {
    let store = b.with_lease(Duration::from_secs(60)).await;
    let holders = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let acquisitions = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (store, holders, max_seen, acquisitions) = (
            store.clone(),
            holders.clone(),
            max_seen.clone(),
            acquisitions.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let info = LockInfo::new(&format!("apply-{i}"));
            let acquired = loop {
                match store.acquire_lock("dev", &info).await {
                    Ok(a) => break a,
                    Err(StateError::Locked { holder, .. }) => {
                        assert_ne!(holder.id, info.id);
                        tokio::time::sleep(Duration::from_millis(5 + (i as u64 % 7) * 3)).await;
                    }
                    Err(e) => panic!("task {i}: {e}"),
                }
            };
            assert!(acquired.took_over.is_none());
            let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
            max_seen.fetch_max(now, Ordering::SeqCst);
            acquisitions.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(15)).await;
            holders.fetch_sub(1, Ordering::SeqCst);
            store.release_lock(&acquired.lease).await.unwrap();
        }));
    }
    tokio::time::timeout(Duration::from_secs(240), async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await
    .expect("lock race finished in time");
    assert_eq!(acquisitions.load(Ordering::SeqCst), 24);
    assert_eq!(
        max_seen.load(Ordering::SeqCst),
        1,
        "more than one task held the lock at once"
    );
    assert_eq!(store.current_lock("dev").await.unwrap(), None);
}

async fn lease_expiry_and_takeover(b: Backend) {
    let store = b.with_lease(Duration::from_secs(1)).await;
    let s1 = state_with(1, uuid::Uuid::new_v4(), "one");
    store
        .write("dev", &s1, None, None, &meta("apply"))
        .await
        .unwrap();

    let a = store
        .acquire_lock("dev", &LockInfo::new("apply"))
        .await
        .unwrap();
    assert!(a.took_over.is_none());
    assert!(a.info.expires_at > a.info.created_at);
    let current = store.current_lock("dev").await.unwrap().unwrap();
    assert_eq!(current.id, a.lease.lock_id);
    assert_eq!(current.operation, "apply");

    let err = store
        .acquire_lock("dev", &LockInfo::new("plan"))
        .await
        .unwrap_err();
    match &err {
        StateError::Locked { holder, .. } => assert_eq!(holder.id, a.lease.lock_id),
        other => panic!("expected Locked, got {other}"),
    }
    assert!(
        err.to_string()
            .contains(&format!("terrace force-unlock -e dev {}", a.lease.lock_id)),
        "{err}"
    );

    tokio::time::sleep(Duration::from_millis(1300) + store.lease_slack()).await;
    let b2 = store
        .acquire_lock("dev", &LockInfo::new("destroy"))
        .await
        .unwrap();
    assert_eq!(
        b2.took_over.as_ref().map(|l| l.id.as_str()),
        Some(a.lease.lock_id.as_str())
    );

    // The old holder has lost its lease everywhere.
    assert!(matches!(
        store.renew_lock(&a.lease).await,
        Err(StateError::LeaseLost { .. })
    ));
    let stale = state_with(2, s1.lineage, "stale");
    let err = store
        .write("dev", &stale, Some(1), Some(&a.lease), &meta("apply"))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::LeaseLost { .. }), "{err}");
    assert_eq!(store.read("dev").await.unwrap(), Some(s1.clone()));
    assert_eq!(store.history("dev").await.unwrap().len(), 1);
    assert!(matches!(
        store.delete_environment("dev", Some(&a.lease)).await,
        Err(StateError::LeaseLost { .. })
    ));
    assert!(matches!(
        store.release_lock(&a.lease).await,
        Err(StateError::LeaseLost { .. })
    ));

    // The new holder writes and renews.
    let until = store.renew_lock(&b2.lease).await.unwrap();
    assert!(until > b2.info.created_at);
    let s2 = state_with(2, s1.lineage, "two");
    store
        .write("dev", &s2, Some(1), Some(&b2.lease), &meta("apply"))
        .await
        .unwrap();
    assert_eq!(store.read("dev").await.unwrap(), Some(s2));

    // An expired lease (not renewed, not taken over) cannot write either.
    tokio::time::sleep(Duration::from_millis(1300) + store.lease_slack()).await;
    let err = store
        .write(
            "dev",
            &state_with(3, s1.lineage, "late"),
            Some(2),
            Some(&b2.lease),
            &meta("apply"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::LeaseLost { .. }), "{err}");
    store.release_lock(&b2.lease).await.unwrap();
    assert_eq!(store.current_lock("dev").await.unwrap(), None);
}

/// Lease expiry is decided by the store's clock: holders whose clocks are
/// ten minutes apart neither take a live lock over early nor keep a dead
/// one past its lease (plus the store's clock resolution). SQLite lives on
/// one machine, whose clock is the store's: it has nothing to show here.
async fn clock_skew_does_not_move_lease_expiry(b: Backend) {
    if matches!(b, Backend::Sqlite { .. }) {
        return;
    }
    let lease = Duration::from_secs(1);
    let skewed = |minutes: i64| StoreOptions {
        lock_lease: lease,
        clock_skew: chrono::Duration::minutes(minutes),
        ..Default::default()
    };
    let fast = b.open(skewed(10)).await;
    let slow = b.open(skewed(-10)).await;
    for (holder, other, name) in [(&slow, &fast, "slow"), (&fast, &slow, "fast")] {
        let env = format!("skew-{name}");
        let a = holder
            .acquire_lock(&env, &LockInfo::new("apply"))
            .await
            .unwrap();
        // Ten minutes ahead or behind, the other machine sees a live lock.
        let err = other
            .acquire_lock(&env, &LockInfo::new("plan"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StateError::Locked { .. }),
            "{name} holder taken over early: {err}"
        );
        // The holder's own writes still count as under a live lease.
        let s = state_with(1, uuid::Uuid::new_v4(), "held");
        holder
            .write(&env, &s, None, Some(&a.lease), &meta("apply"))
            .await
            .unwrap();
        // And once the lease (plus the clock's resolution) has passed
        // without renewal, the other takes over at once.
        tokio::time::sleep(lease + holder.lease_slack() + Duration::from_millis(300)).await;
        let b2 = other
            .acquire_lock(&env, &LockInfo::new("apply"))
            .await
            .unwrap_or_else(|e| panic!("{name} holder kept its lock past its lease: {e}"));
        assert_eq!(
            b2.took_over.map(|l| l.id),
            Some(a.lease.lock_id.clone()),
            "{name}"
        );
        other.release_lock(&b2.lease).await.unwrap();
    }

    // A heartbeat on a fast clock keeps its lock alive for many leases.
    let held = lock_environment(fast.clone(), "skew-heartbeat", "apply", Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(lease * 3).await;
    assert!(!held.is_lost());
    assert!(matches!(
        slow.acquire_lock("skew-heartbeat", &LockInfo::new("plan"))
            .await,
        Err(StateError::Locked { .. })
    ));
    held.release().await.unwrap();
}

async fn held_lock_heartbeat(b: Backend) {
    let store = b.with_lease(Duration::from_millis(600)).await;
    let held = lock_environment(store.clone(), "dev", "apply", Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!held.is_lost());
    let err = store
        .acquire_lock("dev", &LockInfo::new("plan"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StateError::Locked { .. }),
        "heartbeat should keep the lock: {err}"
    );

    let started = std::time::Instant::now();
    let err = lock_environment(store.clone(), "dev", "plan", Duration::from_millis(400))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StateError::Locked { .. }), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(400));

    let lease = held.lease().clone();
    held.release().await.unwrap();
    assert_eq!(store.current_lock("dev").await.unwrap(), None);
    assert!(matches!(
        store.renew_lock(&lease).await,
        Err(StateError::LeaseLost { .. })
    ));

    // A dead holder (no heartbeat) is waited out and taken over.
    let dead = store
        .acquire_lock("dev", &LockInfo::new("apply"))
        .await
        .unwrap();
    let next = lock_environment(store.clone(), "dev", "apply", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        next.took_over().map(|l| l.id.clone()),
        Some(dead.lease.lock_id.clone())
    );

    // Losing a held lock is noticed by the heartbeat.
    store
        .force_unlock("dev", &next.lease().lock_id)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(next.is_lost());
    assert!(matches!(
        next.release().await,
        Err(StateError::LeaseLost { .. })
    ));
}

async fn force_unlock(b: Backend) {
    let store = b.default_store().await;
    let a = store
        .acquire_lock("dev", &LockInfo::new("apply"))
        .await
        .unwrap();
    let err = store.force_unlock("dev", "not-the-id").await.unwrap_err();
    match &err {
        StateError::NoSuchLock {
            current: Some(c), ..
        } => assert_eq!(c.id, a.lease.lock_id),
        other => panic!("expected NoSuchLock, got {other}"),
    }
    assert!(store.current_lock("dev").await.unwrap().is_some());
    store.force_unlock("dev", &a.lease.lock_id).await.unwrap();
    assert_eq!(store.current_lock("dev").await.unwrap(), None);
    let err = store
        .force_unlock("dev", &a.lease.lock_id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StateError::NoSuchLock { current: None, .. }),
        "{err}"
    );
    assert!(matches!(
        store.release_lock(&a.lease).await,
        Err(StateError::LeaseLost { .. })
    ));
    // Free again.
    let again = store
        .acquire_lock("dev", &LockInfo::new("apply"))
        .await
        .unwrap();
    assert!(again.took_over.is_none());
}

/// A state far larger than one stored part (the SQL stores split payloads;
/// S3 keeps one object) reads back whole, in current state and history, and
/// with a multi-byte character straddling a part boundary.
async fn large_state_in_parts(b: Backend) {
    let store = b
        .open(StoreOptions {
            payload_part_bytes: 64,
            ..Default::default()
        })
        .await;
    let lineage = uuid::Uuid::new_v4();
    let mut s1 = state_with(1, lineage, "one");
    s1.outputs.insert(
        "wide".into(),
        terrace_state::OutputState {
            value: json!("é€😀".repeat(200)),
            sensitive: false,
        },
    );
    store
        .write("dev", &s1, None, None, &meta("apply"))
        .await
        .unwrap();
    assert_eq!(store.read("dev").await.unwrap().as_ref(), Some(&s1));
    let lease = store
        .acquire_lock("dev", &LockInfo::new("apply"))
        .await
        .unwrap()
        .lease;
    let mut s2 = s1.clone();
    s2.serial = 2;
    s2.outputs.insert(
        "more".into(),
        terrace_state::OutputState {
            value: json!("x".repeat(1000)),
            sensitive: false,
        },
    );
    store
        .write("dev", &s2, Some(1), Some(&lease), &meta("apply"))
        .await
        .unwrap();
    let mut s3 = s2.clone();
    s3.serial = 3;
    store
        .write("dev", &s3, Some(2), Some(&lease), &meta("apply"))
        .await
        .unwrap();
    assert_eq!(store.read("dev").await.unwrap().as_ref(), Some(&s3));
    assert_eq!(
        store.read_version("dev", 1).await.unwrap().as_ref(),
        Some(&s1)
    );
    assert_eq!(
        store.read_version("dev", 2).await.unwrap().as_ref(),
        Some(&s2)
    );
    // A store with the default part size reads what the small-part one wrote.
    let other = b.default_store().await;
    assert_eq!(other.read("dev").await.unwrap().as_ref(), Some(&s3));
    if let Some(parts) = b.payload_part_rows().await {
        assert!(
            parts > 30,
            "the payloads were not split ({parts} part rows)"
        );
    }
}

/// A state of many records written with parts larger than the envelope's
/// header: the SQL stores encode it record by record and write each part as
/// it fills (the first, with the checksum, last). What is read back —
/// current state, a full version and a delta version in history — is what
/// was written, and a store with another part size reads it too.
async fn large_state_streamed_in_parts(b: Backend) {
    let store = b
        .open(StoreOptions {
            payload_part_bytes: 2048,
            ..Default::default()
        })
        .await;
    let lineage = uuid::Uuid::new_v4();
    let mut s1 = state_with(1, lineage, "one");
    for i in 0..120 {
        let mut r = s1.resources[0].clone();
        r.address = format!("aws_instance.many[{i:03}]");
        r.attributes =
            json!({"id": format!("i-{i}"), "note": format!("\"é😀\n{}", "ü€".repeat(i * 3))})
                .into();
        s1.set_resource(r);
    }
    let before = b.payload_part_rows().await;
    store
        .write("big", &s1, None, None, &meta("apply"))
        .await
        .unwrap();
    assert_eq!(store.read("big").await.unwrap().as_ref(), Some(&s1));
    if let (Some(before), Some(after)) = (before, b.payload_part_rows().await) {
        // About 40 KB of state in 2 KiB parts.
        assert!(
            after - before > 10,
            "the payload was not split ({} part rows)",
            after - before
        );
    }
    let lease = store
        .acquire_lock("big", &LockInfo::new("apply"))
        .await
        .unwrap()
        .lease;
    let mut s2 = s1.clone();
    s2.serial = 2;
    let mut changed = s2.resources[7].clone();
    changed.attributes = json!({"id": "i-changed"}).into();
    s2.set_resource(changed);
    store
        .write("big", &s2, Some(1), Some(&lease), &meta("apply"))
        .await
        .unwrap();
    assert_eq!(store.read("big").await.unwrap().as_ref(), Some(&s2));
    assert_eq!(
        store.read_version("big", 1).await.unwrap().as_ref(),
        Some(&s1)
    );
    assert_eq!(
        store.read_version("big", 2).await.unwrap().as_ref(),
        Some(&s2)
    );
    // A stale writer is refused before it writes a part, and changes nothing.
    let mut stale = s1.clone();
    stale.serial = 2;
    assert!(matches!(
        store
            .write("big", &stale, Some(1), Some(&lease), &meta("apply"))
            .await,
        Err(StateError::Conflict { .. })
    ));
    let other = b.default_store().await;
    assert_eq!(other.read("big").await.unwrap().as_ref(), Some(&s2));
    // Replaced whole (`state push --force`), streamed the same way.
    let mut s3 = s1.clone();
    s3.lineage = uuid::Uuid::new_v4();
    s3.serial = 9;
    store
        .replace("big", &s3, &lease, &meta("state push"))
        .await
        .unwrap();
    assert_eq!(other.read("big").await.unwrap().as_ref(), Some(&s3));
}

/// A write that fails after some of its parts are in (the database refuses
/// the third part: a trigger on the SQL stores) leaves nothing: the current
/// state and history are as before, no part of it stays behind, and the
/// next write goes through.
async fn write_failing_mid_stream_leaves_nothing(b: Backend) {
    let store = b
        .open(StoreOptions {
            payload_part_bytes: 1024,
            ..Default::default()
        })
        .await;
    let lineage = uuid::Uuid::new_v4();
    let s1 = state_with(1, lineage, "one");
    store
        .write("mid", &s1, None, None, &meta("apply"))
        .await
        .unwrap();
    let mut s2 = s1.clone();
    s2.serial = 2;
    for i in 0..60 {
        let mut r = s1.resources[0].clone();
        r.address = format!("aws_instance.many[{i:03}]");
        r.attributes = json!({"id": format!("i-{i}"), "pad": "p".repeat(300)}).into();
        s2.set_resource(r);
    }
    let installed = match &b {
        Backend::Sqlite { .. } => {
            b.exec_sql(
                "CREATE TRIGGER refuse_part BEFORE INSERT ON payload_parts WHEN NEW.seq >= 3 \
                 BEGIN SELECT RAISE(ABORT, 'injected: part refused'); END",
            )
            .await
        }
        Backend::Postgres { .. } => {
            b.exec_sql(
                "CREATE FUNCTION refuse_part() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.seq >= 3 THEN RAISE EXCEPTION 'injected: part refused'; END IF; RETURN NEW; END $$; \
                 CREATE TRIGGER refuse_part BEFORE INSERT ON payload_parts \
                 FOR EACH ROW EXECUTE FUNCTION refuse_part()",
            )
            .await
        }
        Backend::S3 { .. } => false,
    };
    if !installed {
        return; // S3 writes one object: there is no "after some parts".
    }
    let parts_before = b.payload_part_rows().await;
    let versions_before = store.history("mid").await.unwrap().len();
    let err = store
        .write("mid", &s2, Some(1), None, &meta("apply"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    assert_eq!(store.read("mid").await.unwrap().as_ref(), Some(&s1));
    assert_eq!(b.payload_part_rows().await, parts_before);
    assert_eq!(store.history("mid").await.unwrap().len(), versions_before);
    b.exec_sql(match &b {
        Backend::Postgres { .. } => "DROP TRIGGER refuse_part ON payload_parts",
        _ => "DROP TRIGGER refuse_part",
    })
    .await;
    store
        .write("mid", &s2, Some(1), None, &meta("apply"))
        .await
        .unwrap();
    assert_eq!(store.read("mid").await.unwrap().as_ref(), Some(&s2));
}

async fn corrupt_payload(b: Backend) {
    let store = b.default_store().await;
    let s1 = state_with(1, uuid::Uuid::new_v4(), "one");
    store
        .write("dev", &s1, None, None, &meta("apply"))
        .await
        .unwrap();
    let good = b.raw("dev").await;

    // Flip content inside the payload: checksum mismatch.
    let tampered = good.replace("i-one", "i-two");
    assert_ne!(tampered, good);
    b.set_raw("dev", &tampered).await;
    let err = store.read("dev").await.unwrap_err();
    assert!(
        matches!(&err, StateError::Corrupt { detail, .. } if detail.contains("checksum")),
        "{err}"
    );
    let err = store
        .write(
            "dev",
            &state_with(2, s1.lineage, "two"),
            Some(1),
            None,
            &meta("apply"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
    assert_eq!(
        b.raw("dev").await,
        tampered,
        "a corrupt state must not be overwritten"
    );

    // Truncated.
    b.set_raw("dev", &good[..good.len() / 2]).await;
    assert!(matches!(
        store.read("dev").await,
        Err(StateError::Corrupt { .. })
    ));

    // History keeps an intact copy; recovery = delete + write it back.
    assert_eq!(
        store.read_version("dev", 1).await.unwrap(),
        Some(s1.clone())
    );
    store.delete_environment("dev", None).await.unwrap();
    store
        .write("dev", &s1, None, None, &meta("recover"))
        .await
        .unwrap();
    assert_eq!(store.read("dev").await.unwrap(), Some(s1));
}

async fn unsupported_version(b: Backend) {
    let store = b.default_store().await;
    let s1 = state_with(1, uuid::Uuid::new_v4(), "one");
    store
        .write("dev", &s1, None, None, &meta("apply"))
        .await
        .unwrap();
    let mut env: serde_json::Value = serde_json::from_str(&b.raw("dev").await).unwrap();
    env["terrace_state"] = json!(7);
    let newer = env.to_string();
    b.set_raw("dev", &newer).await;
    let err = store.read("dev").await.unwrap_err();
    assert!(
        matches!(err, StateError::UnsupportedVersion { found: 7 }),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade terrace"), "{err}");
    let err = store
        .write(
            "dev",
            &state_with(2, s1.lineage, "two"),
            Some(1),
            None,
            &meta("apply"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StateError::UnsupportedVersion { found: 7 }),
        "{err}"
    );
    assert_eq!(b.raw("dev").await, newer);
}

async fn encryption(b: Backend) {
    let enc = b.with_key(Some("correct horse")).await;
    let mut s1 = state_with(1, uuid::Uuid::new_v4(), "one");
    s1.outputs.insert(
        "password".into(),
        OutputState {
            value: json!("s3cr3t-value"),
            sensitive: true,
        },
    );
    enc.write("dev", &s1, None, None, &meta("apply"))
        .await
        .unwrap();
    let raw = b.raw("dev").await;
    assert!(
        !raw.contains("s3cr3t-value") && !raw.contains("i-one"),
        "stored in plaintext: {raw}"
    );
    assert_eq!(enc.read("dev").await.unwrap(), Some(s1.clone()));

    // Missing key: reads and writes fail with Encryption, nothing written.
    let plain = b.with_key(None).await;
    let err = plain.read("dev").await.unwrap_err();
    assert!(matches!(err, StateError::Encryption { .. }), "{err}");
    assert!(err.to_string().contains("TERRACE_STATE_KEY"), "{err}");
    let err = plain
        .write(
            "dev",
            &state_with(2, s1.lineage, "two"),
            Some(1),
            None,
            &meta("apply"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Encryption { .. }), "{err}");
    assert!(matches!(
        plain.read_version("dev", 1).await,
        Err(StateError::Encryption { .. })
    ));

    // Wrong key.
    let wrong = b.with_key(Some("battery staple")).await;
    assert!(matches!(
        wrong.read("dev").await,
        Err(StateError::Encryption { .. })
    ));
    let err = wrong
        .write(
            "dev",
            &state_with(2, s1.lineage, "two"),
            Some(1),
            None,
            &meta("apply"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Encryption { .. }), "{err}");
    assert_eq!(b.raw("dev").await, raw);

    // Right key continues.
    let s2 = state_with(2, s1.lineage, "two");
    enc.write("dev", &s2, Some(1), None, &meta("apply"))
        .await
        .unwrap();
    assert_eq!(enc.read("dev").await.unwrap(), Some(s2));
    assert_eq!(enc.read_version("dev", 1).await.unwrap(), Some(s1));
    assert_eq!(enc.history("dev").await.unwrap().len(), 2);

    // A plaintext state is refused while a key is set (it could have been
    // put there in place of the encrypted one); turning encryption on is an
    // explicit migration (a store opened with allow_plaintext).
    let p1 = state_with(1, uuid::Uuid::new_v4(), "plain");
    plain
        .write("qa", &p1, None, None, &meta("apply"))
        .await
        .unwrap();
    assert!(b.raw("qa").await.contains("i-plain"));
    let err = enc.read("qa").await.unwrap_err();
    assert!(matches!(err, StateError::Encryption { .. }), "{err}");
    assert!(
        err.to_string().contains("terrace state encrypt -e qa"),
        "{err}"
    );
    let migrate = b
        .open(StoreOptions {
            encryption_key: Some("correct horse".into()),
            allow_plaintext: true,
            ..Default::default()
        })
        .await;
    assert_eq!(migrate.read("qa").await.unwrap(), Some(p1.clone()));
    migrate
        .write(
            "qa",
            &state_with(2, p1.lineage, "plain2"),
            Some(1),
            None,
            &meta("state encrypt"),
        )
        .await
        .unwrap();
    assert!(!b.raw("qa").await.contains("i-plain2"));
    assert_eq!(
        enc.read("qa").await.unwrap(),
        Some(state_with(2, p1.lineage, "plain2"))
    );
}

/// An encrypted payload is bound to its environment, lineage and serial:
/// prod's envelope copied into staging's place does not read as staging's.
async fn encryption_binds_environment(b: Backend) {
    let enc = b.with_key(Some("correct horse")).await;
    let prod = state_with(1, uuid::Uuid::new_v4(), "prod");
    let staging = state_with(1, uuid::Uuid::new_v4(), "staging");
    enc.write("prod", &prod, None, None, &meta("apply"))
        .await
        .unwrap();
    enc.write("staging", &staging, None, None, &meta("apply"))
        .await
        .unwrap();
    let prod_raw = b.raw("prod").await;
    b.set_raw("staging", &prod_raw).await;
    let err = enc.read("staging").await.unwrap_err();
    assert!(matches!(err, StateError::Encryption { .. }), "{err}");
    assert!(err.to_string().contains("'staging'"), "{err}");
    assert_eq!(enc.read("prod").await.unwrap(), Some(prod));
    // Its own history still reads: the good version is there to restore.
    assert_eq!(enc.read_version("staging", 1).await.unwrap(), Some(staging));

    // A raw 256-bit key works the same way and is not a passphrase.
    let raw_key = b
        .open(StoreOptions {
            encryption_raw_key: Some([42u8; 32]),
            ..Default::default()
        })
        .await;
    let s = state_with(1, uuid::Uuid::new_v4(), "rawkey");
    raw_key
        .write("raw", &s, None, None, &meta("apply"))
        .await
        .unwrap();
    assert!(!b.raw("raw").await.contains("i-rawkey"));
    assert_eq!(raw_key.read("raw").await.unwrap(), Some(s));
    assert!(matches!(
        enc.read("raw").await,
        Err(StateError::Encryption { .. })
    ));
}

/// `replace` (state push --force, rollback) is one atomic step: a state that
/// is refused changes nothing, and the old state is never deleted first.
async fn replace_is_atomic(b: Backend) {
    let store = b.default_store().await;
    let s1 = state_with(1, uuid::Uuid::new_v4(), "one");
    store
        .write("dev", &s1, None, None, &meta("apply"))
        .await
        .unwrap();
    let held = store
        .acquire_lock("dev", &LockInfo::new("state push"))
        .await
        .unwrap();

    // Refused (newer format): the current state is untouched.
    let mut newer = state_with(1, uuid::Uuid::new_v4(), "newer");
    newer.format_version = FORMAT_VERSION + 1;
    let err = store
        .replace("dev", &newer, &held.lease, &meta("state push"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StateError::UnsupportedVersion { .. }),
        "{err}"
    );
    assert_eq!(store.read("dev").await.unwrap(), Some(s1.clone()));

    // Without the lease: refused, untouched.
    let other = state_with(1, uuid::Uuid::new_v4(), "other");
    let stranger = LockLease {
        env: "dev".into(),
        lock_id: "not-the-holder".into(),
    };
    let err = store
        .replace("dev", &other, &stranger, &meta("state push"))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::LeaseLost { .. }), "{err}");
    assert_eq!(store.read("dev").await.unwrap(), Some(s1.clone()));

    // Another lineage replaces the current state; both stay in history.
    store
        .replace("dev", &other, &held.lease, &meta("state push"))
        .await
        .unwrap();
    assert_eq!(store.read("dev").await.unwrap(), Some(other.clone()));
    let h = store.history("dev").await.unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1].lineage, other.lineage);
    assert_eq!(h[1].operation, "state push");
    // Ordinary CAS writes continue from it.
    store
        .write(
            "dev",
            &state_with(2, other.lineage, "two"),
            Some(1),
            Some(&held.lease),
            &meta("apply"),
        )
        .await
        .unwrap();

    // A corrupt current state is replaced (rollback's recovery), in one step.
    b.set_raw("dev", "{\"terrace_state\": 1, \"truncated").await;
    let back = restore_version(store.as_ref(), "dev", 1, &held.lease, &meta("rollback"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, 3);
    let now = store.read("dev").await.unwrap().unwrap();
    assert_eq!(now.serial, 3);
    assert_eq!(now.resources, other.resources);

    // From a readable state of the same lineage, restoring is a CAS write.
    let back = restore_version(store.as_ref(), "dev", 1, &held.lease, &meta("rollback"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, 4);
    store.release_lock(&held.lease).await.unwrap();

    // A state encrypted with another key is never replaced.
    let enc = b.with_key(Some("key one")).await;
    enc.write("sec", &s1, None, None, &meta("apply"))
        .await
        .unwrap();
    let raw = b.raw("sec").await;
    let wrong = b.with_key(Some("key two")).await;
    let held = wrong
        .acquire_lock("sec", &LockInfo::new("state push"))
        .await
        .unwrap();
    let err = wrong
        .replace("sec", &other, &held.lease, &meta("state push"))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Encryption { .. }), "{err}");
    assert_eq!(b.raw("sec").await, raw);
}

fn intent(id: &str, env: &str, secs: i64) -> Intent {
    Intent {
        id: id.into(),
        env: env.into(),
        address: format!("aws_instance.{id}"),
        action: "create".into(),
        idempotency_token: format!("tok-{id}"),
        resource_type: "aws_instance".into(),
        recorded_at: t(secs),
        status: IntentStatus::Pending,
        detail: json!({}),
    }
}

async fn journal(b: Backend) {
    let store = b.default_store().await;
    store.journal_record(&intent("b", "dev", 20)).await.unwrap();
    store.journal_record(&intent("a", "dev", 10)).await.unwrap();
    store.journal_record(&intent("c", "prod", 5)).await.unwrap();
    // Recording the same intent again (a retry whose first answer was
    // lost) is no error; another intent under a used id is.
    store.journal_record(&intent("a", "dev", 10)).await.unwrap();
    let mut other = intent("a", "dev", 10);
    other.idempotency_token = "tok-another".into();
    assert!(
        store.journal_record(&other).await.is_err(),
        "duplicate intent id"
    );

    let pending = store.journal_pending("dev").await.unwrap();
    assert_eq!(
        pending,
        vec![intent("a", "dev", 10), intent("b", "dev", 20)]
    );

    store
        .journal_finish("dev", "a", IntentStatus::Done, json!({"id": "i-123"}))
        .await
        .unwrap();
    store
        .journal_finish("dev", "b", IntentStatus::Failed, json!({"error": "boom"}))
        .await
        .unwrap();
    assert!(store.journal_pending("dev").await.unwrap().is_empty());
    assert_eq!(store.journal_pending("prod").await.unwrap().len(), 1);
    let err = store
        .journal_finish("dev", "zzz", IntentStatus::Done, json!(null))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::NoSuchIntent { .. }), "{err}");
}

fn drift_run(id: &str, secs: i64, changed: u32) -> DriftRun {
    DriftRun {
        id: id.into(),
        env: "dev".into(),
        started_at: t(secs),
        finished_at: t(secs + 3),
        changed,
        missing: 1,
        unmanaged: 2,
        pending: 0,
        report: json!({"resources": [{"address": "aws_instance.web", "status": "changed"}]}),
    }
}

async fn drift_runs(b: Backend) {
    let store = b.default_store().await;
    store
        .record_drift_run(&drift_run("r1", 100, 1))
        .await
        .unwrap();
    store
        .record_drift_run(&drift_run("r3", 300, 3))
        .await
        .unwrap();
    store
        .record_drift_run(&drift_run("r2", 200, 2))
        .await
        .unwrap();
    let runs = store.drift_runs("dev", 2).await.unwrap();
    assert_eq!(runs, vec![drift_run("r3", 300, 3), drift_run("r2", 200, 2)]);
    assert_eq!(store.drift_runs("dev", 10).await.unwrap().len(), 3);
    assert!(store.drift_runs("prod", 10).await.unwrap().is_empty());
}

fn record(name: &str) -> EnvRecord {
    EnvRecord {
        name: name.into(),
        template: "preview".into(),
        kind: "ephemeral".into(),
        created_at: t(0),
        created_by: "ci@runner".into(),
        expires_at: Some(t(4 * 3600)),
        status: "creating".into(),
        status_detail: String::new(),
        resource_count: 0,
        last_apply: None,
        last_drift: None,
    }
}

async fn registry(b: Backend) {
    let store = b.default_store().await;
    store.registry_create(&record("pr-42")).await.unwrap();
    let err = store.registry_create(&record("pr-42")).await.unwrap_err();
    assert!(
        matches!(&err, StateError::AlreadyExists { name } if name == "pr-42"),
        "{err}"
    );
    let mut active = record("pr-42");
    active.status = "active".into();
    active.resource_count = 7;
    active.last_apply = Some(t(60));
    active.last_drift = Some("in sync".into());
    store.registry_put(&active).await.unwrap();
    assert_eq!(
        store.registry_get("pr-42").await.unwrap(),
        Some(active.clone())
    );
    store.registry_put(&record("dev")).await.unwrap();
    let names: Vec<_> = store
        .registry_list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["dev", "pr-42"]);
    store.registry_delete("pr-42").await.unwrap();
    assert_eq!(store.registry_get("pr-42").await.unwrap(), None);
    // The name is free again.
    store.registry_create(&record("pr-42")).await.unwrap();

    // Racing creators: exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.registry_create(&record("pr-77")).await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StateError::AlreadyExists { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(wins, 1);
}

/// Issue 22.14: registry updates are compare-and-swap: concurrent updates
/// are never lost and a deleted record never comes back.
async fn registry_compare_and_swap(b: Backend) {
    let store = b.default_store().await;
    let rec = record("pr-9");
    store.registry_create(&rec).await.unwrap();
    let mut a = rec.clone();
    a.status = "active".into();
    assert!(store.registry_replace(&rec, &a).await.unwrap());
    // A writer that read before that update loses, and nothing is overwritten.
    let mut stale = rec.clone();
    stale.status_detail = "stale".into();
    assert!(!store.registry_replace(&rec, &stale).await.unwrap());
    assert_eq!(store.registry_get("pr-9").await.unwrap(), Some(a.clone()));

    // Concurrent read-modify-write loops: every increment lands.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let old = store.registry_get("pr-9").await.unwrap().unwrap();
                let mut new = old.clone();
                new.resource_count += 1;
                if store.registry_replace(&old, &new).await.unwrap() {
                    break;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let now = store.registry_get("pr-9").await.unwrap().unwrap();
    assert_eq!(now.resource_count, 6);

    // Deleted: an update from an earlier read does not bring it back.
    store.registry_delete("pr-9").await.unwrap();
    let mut back = now.clone();
    back.status = "destroy_failed".into();
    assert!(!store.registry_replace(&now, &back).await.unwrap());
    assert_eq!(store.registry_get("pr-9").await.unwrap(), None);
}

fn ledger_rec(env: &str, secs: i64, operation: &str) -> LedgerRecord {
    let mut r = LedgerRecord::open(
        env,
        operation,
        Identity {
            os_user: "ci@runner".into(),
            ci: Some(CiContext {
                system: "gitlab_ci".into(),
                commit_sha: Some("abc123".into()),
                change_request: Some("12".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    r.started_at = t(secs);
    r
}

/// Issue 18 §1: ledger records are opened, closed once, listed and read
/// back identically; a closed record is never changed.
async fn ledger_append_only(b: Backend) {
    let store = b.default_store().await;
    let open = ledger_rec("prod", 10, "apply");
    store.ledger_open(&open).await.unwrap();
    // Opening the same record again (a retried call) is harmless; another
    // record under a taken id is refused.
    store.ledger_open(&open).await.unwrap();
    let mut other = open.clone();
    other.operation = "destroy".into();
    assert!(store.ledger_open(&other).await.is_err());
    assert_eq!(
        store.ledger_get(&open.id).await.unwrap(),
        Some(open.clone())
    );

    // Closing needs an outcome.
    let err = store.ledger_close(&open).await.unwrap_err();
    assert!(err.to_string().contains("outcome"), "{err}");
    let mut done = open.clone().closed(Outcome::Failed);
    done.counts.creates = 2;
    done.changed = vec!["aws_vpc.main".into()];
    done.failed = vec![FailedAddress {
        address: "aws_instance.web".into(),
        error: "InvalidAMIID.NotFound".into(),
    }];
    done.serial_before = Some(3);
    done.serial_after = Some(4);
    done.plan_hash = Some("ab".repeat(32));
    store.ledger_close(&done).await.unwrap();
    // The same close again (a retry) is harmless; any other change is refused.
    store.ledger_close(&done).await.unwrap();
    let rewrite = done.clone().closed(Outcome::Succeeded);
    let err = store.ledger_close(&rewrite).await.unwrap_err();
    assert!(
        matches!(&err, StateError::LedgerClosed { outcome, .. } if outcome == "failed"),
        "{err}"
    );
    assert_eq!(
        store.ledger_get(&open.id).await.unwrap(),
        Some(done.clone())
    );

    // Unknown records.
    let ghost = ledger_rec("prod", 11, "apply").closed(Outcome::Succeeded);
    assert!(matches!(
        store.ledger_close(&ghost).await.unwrap_err(),
        StateError::NoSuchLedgerRecord { .. }
    ));
    assert_eq!(store.ledger_get(&ghost.id).await.unwrap(), None);

    // A refused run is stored closed at once and stays so.
    let refused = ledger_rec("dev", 20, "apply").closed(Outcome::Refused);
    store.ledger_open(&refused).await.unwrap();
    assert!(
        store
            .ledger_close(&refused.clone().closed(Outcome::Succeeded))
            .await
            .is_err()
    );
    let late = ledger_rec("prod", 30, "destroy");
    store.ledger_open(&late).await.unwrap();

    // Listing: per environment or all, oldest first, with `since`.
    let ids = |v: Vec<LedgerRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = store.ledger_list(&LedgerQuery::default()).await.unwrap();
    assert_eq!(ids(all), [open.id.as_str(), &refused.id, &late.id]);
    let prod_only = LedgerQuery {
        env: Some("prod".into()),
        since: None,
    };
    let prod = || store.ledger_list(&prod_only);
    assert_eq!(ids(prod().await.unwrap()), [open.id.as_str(), &late.id]);
    let recent = store
        .ledger_list(&LedgerQuery {
            env: None,
            since: Some(t(20)),
        })
        .await
        .unwrap();
    assert_eq!(ids(recent), [refused.id.as_str(), &late.id]);

    // Deleting an environment's state (env destroy) keeps its records.
    store.delete_environment("prod", None).await.unwrap();
    assert_eq!(prod().await.unwrap().len(), 2);
}

/// Racing closers of one open record (a run finishing while the next run
/// closes it as interrupted): exactly one wins.
async fn ledger_close_race(b: Backend) {
    let store = b.default_store().await;
    let open = ledger_rec("prod", 10, "apply");
    store.ledger_open(&open).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..4 {
        let store = store.clone();
        let mut rec = open.clone().closed(Outcome::Interrupted);
        rec.error = Some(format!("closer {i}"));
        tasks.push(tokio::spawn(async move {
            (store.ledger_close(&rec).await, rec)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (Ok(()), rec) => winners.push(rec),
            (Err(StateError::LedgerClosed { .. }), _) => {}
            (Err(e), _) => panic!("{e}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(
        store.ledger_get(&open.id).await.unwrap(),
        Some(winners[0].clone())
    );
}

/// Issue 18 §1: configuration snapshots are content-addressed blobs —
/// stored once however often they are put, read back as stored, looked up
/// only by a well-formed address.
async fn ledger_snapshot_blobs(b: Backend) {
    let store = b.default_store().await;
    let text = "resource \"terraform_data\" \"a\" {\n  input = \"é\"\n}\n";
    let hash = store.blob_put(text).await.unwrap();
    assert_eq!(hash, blob_hash(text));
    assert_eq!(hash.len(), 64);
    // Again: same address, nothing new (no error either).
    assert_eq!(store.blob_put(text).await.unwrap(), hash);
    assert_eq!(store.blob_get(&hash).await.unwrap().as_deref(), Some(text));
    let other = store.blob_put("").await.unwrap();
    assert_ne!(other, hash);
    assert_eq!(store.blob_get(&other).await.unwrap().as_deref(), Some(""));
    assert_eq!(store.blob_get(&"0".repeat(64)).await.unwrap(), None);
    let err = store.blob_get("../state").await.unwrap_err();
    assert!(err.to_string().contains("not a blob address"), "{err}");
}

/// Issue 18: a sweep deletes the blobs not in `keep` last stored before the
/// cutoff — never a kept one, never one stored again since the cutoff (a
/// run reusing it while the sweep runs).
async fn blob_sweep_keeps_named_and_renewed_blobs(b: Backend) {
    let store = b.default_store().await;
    let kept = store.blob_put("kept").await.unwrap();
    let stale = store.blob_put("stale").await.unwrap();
    let renewed = store.blob_put("renewed").await.unwrap();
    let keep: std::collections::BTreeSet<String> = [kept.clone()].into();
    let hour = chrono::Duration::hours(1);
    // Nothing was stored before a cutoff an hour ago.
    assert_eq!(store.blob_sweep(&keep, Utc::now() - hour).await.unwrap(), 0);
    // Stores keep whole seconds: put the cutoff between two of them.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.blob_put("renewed").await.unwrap(), renewed);
    assert_eq!(store.blob_sweep(&keep, cutoff).await.unwrap(), 1);
    assert_eq!(store.blob_get(&stale).await.unwrap(), None);
    let text = |h: &String| {
        let store = store.clone();
        let h = h.clone();
        async move { store.blob_get(&h).await.unwrap() }
    };
    assert_eq!(text(&kept).await.as_deref(), Some("kept"));
    assert_eq!(text(&renewed).await.as_deref(), Some("renewed"));
    // Past every put: the unnamed one goes, the named one stays.
    assert_eq!(store.blob_sweep(&keep, Utc::now() + hour).await.unwrap(), 1);
    assert_eq!(text(&renewed).await, None);
    assert_eq!(text(&kept).await.as_deref(), Some("kept"));
    // Nothing left to sweep: zero, no error; a swept blob can be stored again.
    assert_eq!(store.blob_sweep(&keep, Utc::now() + hour).await.unwrap(), 0);
    assert_eq!(store.blob_put("stale").await.unwrap(), stale);
    assert_eq!(text(&stale).await.as_deref(), Some("stale"));
}

/// Issue 18 §1: retention deletes closed records of one environment
/// started before the cutoff — never open ones, never other environments'.
async fn ledger_retention_prune(b: Backend) {
    let store = b.default_store().await;
    let old = ledger_rec("prod", 10, "apply").closed(Outcome::Succeeded);
    let old_open = ledger_rec("prod", 11, "apply");
    let recent = ledger_rec("prod", 100, "apply").closed(Outcome::Failed);
    let other_env = ledger_rec("dev", 10, "apply").closed(Outcome::Succeeded);
    for r in [&old, &old_open, &recent, &other_env] {
        store.ledger_open(r).await.unwrap();
    }
    assert_eq!(store.ledger_prune("prod", t(50)).await.unwrap(), 1);
    assert_eq!(store.ledger_get(&old.id).await.unwrap(), None);
    let ids = |v: Vec<LedgerRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.ledger_list(&LedgerQuery::default()).await.unwrap()),
        [other_env.id, old_open.id, recent.id]
    );
    // Nothing more to prune: zero, no error.
    assert_eq!(store.ledger_prune("prod", t(50)).await.unwrap(), 0);
}

/// A state of `n` resources, each about 400 bytes.
fn wide_state(n: usize, lineage: uuid::Uuid) -> State {
    let mut s = State::new();
    s.lineage = lineage;
    s.serial = 1;
    for i in 0..n {
        s.set_resource(ResourceState {
            address: format!("terraform_data.r[{i}]"),
            mode: "managed".into(),
            type_name: "terraform_data".into(),
            provider: "terraform".into(),
            attributes: json!({"id": format!("id-{i}"), "input": "v0", "padding": "p".repeat(300)})
                .into(),
            sensitive_paths: vec![],
            dependencies: vec![],
            schema_version: 0,
            created_at: t(0),
            updated_at: t(0),
        });
    }
    s
}

/// Change resource `i` of `s` (as an apply would) and bump the serial.
fn touch(s: &State, i: usize, marker: &str) -> State {
    let mut next = s.clone();
    next.serial += 1;
    let mut r = next.resources[i].clone();
    r.attributes =
        json!({"id": format!("id-{i}"), "input": marker, "padding": "p".repeat(300)}).into();
    next.set_resource(r);
    next
}

/// A write costs what changed: versions that change one resource of 200 are
/// stored as small deltas — whether the writer holds the lock across writes,
/// writes without one, or is a new process — and every version reads back
/// exactly; a change of everything is stored as a full version again.
async fn history_shares_unchanged_records(b: Backend) {
    for key in [None, Some("correct horse")] {
        let env = if key.is_some() { "enc" } else { "plain" };
        let store = b.with_key(key).await;
        let mut written = vec![wide_state(200, uuid::Uuid::new_v4())];
        store
            .write(env, &written[0], None, None, &meta("apply"))
            .await
            .unwrap();
        let full = b.history_bytes(env).await;
        let held = store
            .acquire_lock(env, &LockInfo::new("apply"))
            .await
            .unwrap();
        for i in 0..20 {
            let next = touch(written.last().unwrap(), i * 7, &format!("v{i}"));
            let prev = written.last().unwrap().serial;
            match i % 3 {
                // Under the lease: the store remembers what it wrote.
                0 => store
                    .write(env, &next, Some(prev), Some(&held.lease), &meta("apply"))
                    .await
                    .unwrap(),
                // Without one: it reads the current version back.
                1 => store
                    .write(env, &next, Some(prev), None, &meta("apply"))
                    .await
                    .unwrap(),
                // Another process.
                _ => b
                    .with_key(key)
                    .await
                    .write(env, &next, Some(prev), Some(&held.lease), &meta("apply"))
                    .await
                    .unwrap(),
            }
            written.push(next);
        }
        let total = b.history_bytes(env).await;
        assert!(
            total < full + full / 2,
            "{env}: 20 one-resource changes grew history from {full} to {total} bytes"
        );
        // Every version reads back exactly, newest first and oldest first.
        let fresh = b.with_key(key).await;
        for s in written.iter().rev().chain(written.iter()) {
            assert_eq!(
                fresh.read_version(env, s.serial).await.unwrap().as_ref(),
                Some(s),
                "{env}: version {}",
                s.serial
            );
        }
        assert_eq!(fresh.history(env).await.unwrap().len(), 21);
        if key.is_some() {
            // Nothing in an encrypted history says which records are there
            // or equal: no address, no value, no hash of either.
            for text in b.history_texts(env).await {
                assert!(
                    !text.contains("terraform_data") && !text.contains("id-7"),
                    "{text:.300}"
                );
            }
            let plain = b.with_key(None).await;
            assert!(matches!(
                plain.read_version(env, 5).await,
                Err(StateError::Encryption { .. })
            ));
        }
        // Changing everything stores a full version again.
        let mut all = written.last().unwrap().clone();
        all.serial += 1;
        for r in all.resources.iter_mut() {
            r.attributes =
                json!({"replaced": r.address.clone(), "padding": "q".repeat(300)}).into();
        }
        store
            .write(
                env,
                &all,
                Some(all.serial - 1),
                Some(&held.lease),
                &meta("apply"),
            )
            .await
            .unwrap();
        assert!(b.history_bytes(env).await > total + full / 2);
        assert_eq!(
            fresh.read_version(env, all.serial).await.unwrap(),
            Some(all)
        );
        store.release_lock(&held.lease).await.unwrap();
    }
}

/// A broken chain is `Corrupt`, never a different state: a delta whose
/// parent was tampered with does not rebuild.
async fn history_chain_is_checked(b: Backend) {
    let store = b.default_store().await;
    let s1 = wide_state(20, uuid::Uuid::new_v4());
    store
        .write("dev", &s1, None, None, &meta("apply"))
        .await
        .unwrap();
    let s2 = touch(&s1, 3, "two");
    store
        .write("dev", &s2, Some(1), None, &meta("apply"))
        .await
        .unwrap();
    let s3 = touch(&s2, 4, "three");
    store
        .write("dev", &s3, Some(2), None, &meta("apply"))
        .await
        .unwrap();
    let texts = b.history_texts("dev").await;
    assert_eq!(texts.len(), 3);
    assert!(
        texts[1].starts_with("{\"terrace_delta\""),
        "{:.100}",
        texts[1]
    );
    // Version 3's delta changed inside: its checksum fails.
    let tampered = texts[2].replace("three", "THREE");
    assert_ne!(tampered, texts[2]);
    b.set_history_text("dev", 2, Some(&tampered)).await;
    let err = b
        .default_store()
        .await
        .read_version("dev", 3)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StateError::Corrupt { detail, .. } if detail.contains("checksum")),
        "{err}"
    );
    // Version 2's delta in version 3's place (checksums intact): the chain
    // does not link up.
    b.set_history_text("dev", 2, Some(&texts[1])).await;
    let err = b
        .default_store()
        .await
        .read_version("dev", 3)
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
    b.set_history_text("dev", 2, Some(&texts[2])).await;
    assert_eq!(
        b.default_store()
            .await
            .read_version("dev", 3)
            .await
            .unwrap(),
        Some(s3.clone())
    );
    // Its base gone: Corrupt, saying what is missing.
    b.set_history_text("dev", 0, None).await;
    let err = b
        .default_store()
        .await
        .read_version("dev", 3)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StateError::Corrupt { detail, .. } if detail.contains("missing")),
        "{err}"
    );
    // The current state is unaffected.
    assert_eq!(store.read("dev").await.unwrap(), Some(s3));
}

/// History written before deltas (every version a full envelope) still
/// reads; the next write is a delta on the newest old version, and pruning
/// treats old versions like any full version.
async fn history_old_format_reads(b: Backend) {
    let store = b.default_store().await;
    let lineage = uuid::Uuid::new_v4();
    let mut written = vec![wide_state(50, lineage)];
    let mut old_texts = Vec::new();
    store
        .write("dev", &written[0], None, None, &meta("apply"))
        .await
        .unwrap();
    old_texts.push(b.raw("dev").await);
    for i in 0..3 {
        let next = touch(written.last().unwrap(), i, &format!("old{i}"));
        // A full write each time (replace), as the old format stored them.
        let held = store
            .acquire_lock("dev", &LockInfo::new("apply"))
            .await
            .unwrap();
        store
            .replace("dev", &next, &held.lease, &meta("apply"))
            .await
            .unwrap();
        store.release_lock(&held.lease).await.unwrap();
        old_texts.push(b.raw("dev").await);
        written.push(next);
    }
    b.set_old_history("dev", &old_texts).await;
    let fresh = b.default_store().await;
    for s in &written {
        assert_eq!(
            fresh.read_version("dev", s.serial).await.unwrap().as_ref(),
            Some(s)
        );
    }
    assert_eq!(fresh.history("dev").await.unwrap().len(), 4);
    let next = touch(written.last().unwrap(), 9, "new");
    fresh
        .write("dev", &next, Some(4), None, &meta("apply"))
        .await
        .unwrap();
    let texts = b.history_texts("dev").await;
    assert_eq!(texts.len(), 5);
    assert!(
        texts[4].starts_with("{\"terrace_delta\""),
        "{:.100}",
        texts[4]
    );
    assert_eq!(
        b.default_store()
            .await
            .read_version("dev", 5)
            .await
            .unwrap(),
        Some(next.clone())
    );
    // Keep 1 version: the delta needs the old version 4; 1..3 go.
    let keep_one = HistoryRetention {
        keep_versions: Some(1),
        keep_days: None,
    };
    assert_eq!(
        fresh.prune_history("dev", &keep_one, None).await.unwrap(),
        3
    );
    let h = fresh.history("dev").await.unwrap();
    assert_eq!(h.iter().map(|e| e.serial).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(fresh.read_version("dev", 5).await.unwrap(), Some(next));
    assert_eq!(fresh.read_version("dev", 2).await.unwrap(), None);
}

/// Issue 20: a deleted environment (no current state) keeps its history
/// only while it is younger than the retention's days — not its newest
/// version, not a count — so the history of destroyed preview
/// environments ends; a live environment's newest version always stays.
async fn history_of_a_deleted_environment_ends(b: Backend) {
    let store = b.default_store().await;
    let first = wide_state(5, uuid::Uuid::new_v4());
    for env in ["gone", "live"] {
        store
            .write(env, &first, None, None, &meta("apply"))
            .await
            .unwrap();
        let next = touch(&first, 1, "x");
        store
            .write(env, &next, Some(next.serial - 1), None, &meta("apply"))
            .await
            .unwrap();
    }
    store.delete_environment("gone", None).await.unwrap();
    let envs = store.history_environments().await.unwrap();
    assert_eq!(envs, ["gone", "live"]);
    assert_eq!(store.list_environments().await.unwrap(), ["live"]);
    // Within the retention nothing goes.
    let default = HistoryRetention::default();
    assert_eq!(
        store.prune_history("gone", &default, None).await.unwrap(),
        0
    );
    // Past it (0 days: everything written before now), all of a deleted
    // environment goes, whatever keep_versions says; a live one keeps its
    // newest version. (S3's clock counts whole seconds: step over one.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let past = HistoryRetention {
        keep_versions: Some(5),
        keep_days: Some(0),
    };
    assert_eq!(store.prune_history("gone", &past, None).await.unwrap(), 2);
    assert!(store.history("gone").await.unwrap().is_empty());
    assert_eq!(store.history_environments().await.unwrap(), ["live"]);
    let newest_only = HistoryRetention {
        keep_versions: None,
        keep_days: Some(0),
    };
    // The newest is a delta on the first write: both stay.
    assert_eq!(
        store
            .prune_history("live", &newest_only, None)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.history("live").await.unwrap().len(), 2);
    // The name can be used again: a new history starts.
    store
        .write("gone", &first, None, None, &meta("apply"))
        .await
        .unwrap();
    assert_eq!(store.history("gone").await.unwrap().len(), 1);
}

/// Pruning removes what retention does not keep and nothing a kept version
/// needs; under a lease it checks the lease first.
async fn history_pruning(b: Backend) {
    let store = b.default_store().await;
    let mut written = vec![wide_state(40, uuid::Uuid::new_v4())];
    store
        .write("dev", &written[0], None, None, &meta("apply"))
        .await
        .unwrap();
    for i in 0..5 {
        let next = touch(written.last().unwrap(), i, &format!("a{i}"));
        store
            .write("dev", &next, Some(next.serial - 1), None, &meta("apply"))
            .await
            .unwrap();
        written.push(next);
    }
    let keep = |n| HistoryRetention {
        keep_versions: Some(n),
        keep_days: None,
    };
    // One chain: the newest two need all of it.
    assert_eq!(store.prune_history("dev", &keep(2), None).await.unwrap(), 0);
    // The default (90 days) keeps everything written just now.
    assert_eq!(
        store
            .prune_history("dev", &HistoryRetention::default(), None)
            .await
            .unwrap(),
        0
    );
    // A change of everything starts a new chain; then the old one can go.
    let mut all = written.last().unwrap().clone();
    all.serial += 1;
    for r in all.resources.iter_mut() {
        r.attributes = json!({"new": r.address.clone(), "padding": "z".repeat(300)}).into();
    }
    store
        .write("dev", &all, Some(all.serial - 1), None, &meta("apply"))
        .await
        .unwrap();
    written.push(all);
    let next = touch(written.last().unwrap(), 1, "b");
    store
        .write("dev", &next, Some(next.serial - 1), None, &meta("apply"))
        .await
        .unwrap();
    written.push(next);
    let before = b.history_bytes("dev").await;
    // A stranger's lease is refused; nothing is removed.
    let held = store
        .acquire_lock("dev", &LockInfo::new("apply"))
        .await
        .unwrap();
    let stranger = LockLease {
        env: "dev".into(),
        lock_id: "not-the-holder".into(),
    };
    let err = store
        .prune_history("dev", &keep(2), Some(&stranger))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::LeaseLost { .. }), "{err}");
    assert_eq!(
        store
            .prune_history("dev", &keep(2), Some(&held.lease))
            .await
            .unwrap(),
        6
    );
    store.release_lock(&held.lease).await.unwrap();
    assert!(b.history_bytes("dev").await < before / 2);
    let h = store.history("dev").await.unwrap();
    assert_eq!(h.iter().map(|e| e.serial).collect::<Vec<_>>(), [7, 8]);
    let fresh = b.default_store().await;
    assert_eq!(fresh.read_version("dev", 3).await.unwrap(), None);
    for s in &written[6..] {
        assert_eq!(
            fresh.read_version("dev", s.serial).await.unwrap().as_ref(),
            Some(s)
        );
    }
    assert_eq!(fresh.read("dev").await.unwrap().as_ref(), written.last());
    // Writing goes on from the pruned history.
    let more = touch(written.last().unwrap(), 2, "c");
    fresh
        .write("dev", &more, Some(8), None, &meta("apply"))
        .await
        .unwrap();
    assert_eq!(fresh.read_version("dev", 9).await.unwrap(), Some(more));
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(b) = super::Backend::sqlite().await else { return };
                    super::$case(b).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(b) = super::Backend::postgres().await else { return };
                    super::$case(b).await
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(b) = super::Backend::s3().await else { return };
                    super::$case(b).await
                }
            )*
        }
    };
}

conformance!(
    cas_conflict,
    history_and_rollback,
    lock_exclusive_race,
    lease_expiry_and_takeover,
    held_lock_heartbeat,
    clock_skew_does_not_move_lease_expiry,
    force_unlock,
    corrupt_payload,
    large_state_in_parts,
    large_state_streamed_in_parts,
    write_failing_mid_stream_leaves_nothing,
    unsupported_version,
    encryption,
    encryption_binds_environment,
    replace_is_atomic,
    journal,
    drift_runs,
    registry,
    registry_compare_and_swap,
    ledger_append_only,
    ledger_close_race,
    ledger_snapshot_blobs,
    blob_sweep_keeps_named_and_renewed_blobs,
    ledger_retention_prune,
    plan_approvals,
    history_shares_unchanged_records,
    history_chain_is_checked,
    history_old_format_reads,
    history_pruning,
    history_of_a_deleted_environment_ends,
);

// ---------------------------------------------------------------- store-specific

/// A database created by terrace before history deltas (schema migrations
/// 0001–0004 only, rows written by the statements of then) is migrated on
/// open; its current state and every old version read, and the next write
/// stores a delta on the old full version.
#[tokio::test]
async fn sqlite_database_of_the_old_schema_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    // The envelopes the old code wrote: full versions (a new store's first
    // writes are full versions of exactly that format).
    let scratch = SqliteStore::open(&dir.path().join("scratch.db"), "s", StoreOptions::default())
        .await
        .unwrap();
    let s1 = wide_state(30, uuid::Uuid::new_v4());
    let s2 = touch(&s1, 4, "two");
    let mut texts = Vec::new();
    for (i, s) in [&s1, &s2].into_iter().enumerate() {
        scratch
            .write(&format!("e{i}"), s, None, None, &meta("apply"))
            .await
            .unwrap();
        let t: String = sqlx::query_scalar("SELECT payload FROM states WHERE env = $1")
            .bind(format!("e{i}"))
            .fetch_one(scratch.pool())
            .await
            .unwrap();
        texts.push(t);
    }
    // The old schema: migrations 0001..0004 as shipped.
    let old = dir.path().join("old-migrations");
    std::fs::create_dir_all(&old).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if name.as_str() < "0005" {
            std::fs::copy(e.path(), old.join(&name)).unwrap();
        }
    }
    let path = dir.path().join("old.db");
    let pool = sqlx::sqlite::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let has_chain: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pragma_table_info('state_versions') WHERE name = 'base_ref'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(has_chain, 0, "the old schema has no chain columns");
    for (s, t) in [(&s1, &texts[0]), (&s2, &texts[1])] {
        sqlx::query(
            "INSERT INTO state_versions (env, serial, lineage, payload, written_at, operation, who) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind("dev")
        .bind(s.serial as i64)
        .bind(s.lineage.to_string())
        .bind(t)
        .bind(Utc::now())
        .bind("apply")
        .bind("old@box")
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO states (env, serial, lineage, payload, written_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind("dev")
    .bind(s2.serial as i64)
    .bind(s2.lineage.to_string())
    .bind(&texts[1])
    .bind(Utc::now())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = SqliteStore::open(&path, "old.db", StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.read("dev").await.unwrap().as_ref(), Some(&s2));
    assert_eq!(
        store.read_version("dev", 1).await.unwrap().as_ref(),
        Some(&s1)
    );
    assert_eq!(
        store.read_version("dev", 2).await.unwrap().as_ref(),
        Some(&s2)
    );
    let s3 = touch(&s2, 5, "three");
    store
        .write("dev", &s3, Some(2), None, &meta("apply"))
        .await
        .unwrap();
    let (kind, base): (String, i64) = {
        let r = sqlx::query("SELECT payload, base_ref FROM state_versions WHERE serial = 3")
            .fetch_one(store.pool())
            .await
            .unwrap();
        use sqlx::Row;
        (r.get::<String, _>(0), r.get::<i64, _>(1))
    };
    assert!(kind.starts_with("{\"terrace_delta\""), "{kind:.80}");
    assert_ne!(base, 0);
    let fresh = SqliteStore::open(&path, "old.db", StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(fresh.read_version("dev", 3).await.unwrap(), Some(s3));
    assert_eq!(fresh.history("dev").await.unwrap().len(), 3);
}

/// moto (like S3) honours conditional PUTs; the S3 store relies on it.
#[tokio::test]
async fn s3_conditional_puts_are_enforced() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let client = s3_client(&moto.endpoint);
    let bucket = format!("t-{}", uuid::Uuid::new_v4().simple());
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let put = |body: &'static str| {
        client
            .put_object()
            .bucket(&bucket)
            .key("k")
            .body(ByteStream::from_static(body.as_bytes()))
    };
    let first = put("one").if_none_match("*").send().await.unwrap();
    let err = put("two").if_none_match("*").send().await.unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(412));
    let etag = first.e_tag().unwrap().to_string();
    let second = put("three").if_match(&etag).send().await.unwrap();
    let err = put("four").if_match(&etag).send().await.unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(412));
    let err = client
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .if_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(412));
    client
        .delete_object()
        .bucket(&bucket)
        .key("k")
        .if_match(second.e_tag().unwrap())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn s3_missing_bucket_is_a_clear_error() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let err = S3Store::connect(
        s3_client(&moto.endpoint),
        "no-such-bucket-here",
        "x",
        StoreOptions::default(),
    )
    .await
    .err()
    .unwrap();
    assert!(
        matches!(&err, StateError::Config { detail } if detail.contains("does not exist")),
        "{err}"
    );
}

#[tokio::test]
async fn s3_unreachable_endpoint() {
    let port = terrace_testkit::free_port();
    let err = S3Store::connect(
        s3_client(&format!("http://127.0.0.1:{port}")),
        "b",
        "",
        StoreOptions::default(),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(err, StateError::Unreachable { .. }), "{err}");
}

/// Issue 22.16: commits are durable (`synchronous=FULL`, 2), not NORMAL (1).
#[tokio::test]
async fn sqlite_commits_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db"), "t.db", StoreOptions::default())
        .await
        .unwrap();
    let mut conn = store.pool().acquire().await.unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(sync, 2, "synchronous must be FULL");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

/// Issues 22.13/21.6: the database, its -wal and -shm, and the folders made
/// for them are private to the owner; an existing readable database is tightened.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(
        "sqlite:state/deep/terrace.db",
        dir.path(),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    store
        .write(
            "dev",
            &state_with(1, uuid::Uuid::new_v4(), "x"),
            None,
            None,
            &meta("apply"),
        )
        .await
        .unwrap();
    let db = dir.path().join("state/deep/terrace.db");
    for f in ["terrace.db", "terrace.db-wal", "terrace.db-shm"] {
        let p = dir.path().join("state/deep").join(f);
        assert!(p.exists(), "{f} missing");
        assert_eq!(mode(&p), 0o600, "{f}");
    }
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&dir.path().join("state/deep")), 0o700);
    drop(store);

    // A database left readable by an older terrace is made private on open.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = open_store(
        "sqlite:state/deep/terrace.db",
        dir.path(),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(store.read("dev").await.unwrap().unwrap().serial, 1);
    assert_eq!(mode(&db), 0o600);
}

#[tokio::test]
async fn open_store_creates_sqlite_file_and_folders() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(DEFAULT_STORE_URL, dir.path(), StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.describe(), "sqlite:state/terrace.db");
    assert!(dir.path().join("state/terrace.db").exists());
    store
        .write(
            "dev",
            &state_with(1, uuid::Uuid::new_v4(), "x"),
            None,
            None,
            &meta("apply"),
        )
        .await
        .unwrap();
    // A second process (here: a second store) sees the same state.
    let other = open_store(DEFAULT_STORE_URL, dir.path(), StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(other.read("dev").await.unwrap().unwrap().serial, 1);
}

#[tokio::test]
async fn open_store_postgres_describe_hides_password() {
    let Some(url) = terrace_testkit::fresh_postgres_db() else {
        return;
    };
    let with_password = url.replacen("://postgres@", "://postgres:hunter2@", 1);
    let store = open_store(
        &with_password,
        std::path::Path::new("."),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    assert!(
        !store.describe().contains("hunter2"),
        "{}",
        store.describe()
    );
    assert!(
        store
            .describe()
            .starts_with("postgres://postgres@127.0.0.1"),
        "{}",
        store.describe()
    );
}

#[tokio::test]
async fn postgres_unreachable() {
    let port = terrace_testkit::free_port();
    let err = open_store(
        &format!("postgres://postgres@127.0.0.1:{port}/x"),
        std::path::Path::new("."),
        StoreOptions::default(),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(err, StateError::Unreachable { .. }), "{err}");
}
