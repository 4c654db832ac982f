//! Rollback of infrastructure (issue 18 §2) and the ledger's configuration
//! snapshots, caller identity and retention (§1): apply v1, apply v2,
//! `terrace rollback` → the cloud is back at v1 and the ledger shows three
//! records, the rollback pointing at the record it restored.

use crate::support::{Project, sdk_config};
use aws_sdk_ec2::types::Filter;
use terrace_state::{ConfigSnapshot, LedgerQuery, LedgerRecord, Outcome, StateStore, open_store};

const AMI: &str = "ami-04681a1dbd79675a5";

/// v1: t3.micro, tag A. v2: t3.small, tag B, and one bucket more. The
/// instance type and tag come from variables (so the snapshot's variable
/// values are what the rollback restores); the secret is sensitive and
/// must never be stored.
fn config(instance_type: &str, extra: &str) -> String {
    format!(
        r#"
variable "instance_type" {{
  type    = string
  default = "{instance_type}"
}}

variable "tier" {{
  type = string
}}

variable "secret" {{
  type      = string
  sensitive = true
}}

resource "aws_vpc" "main" {{
  cidr_block = "10.81.0.0/16"
}}

resource "aws_subnet" "a" {{
  vpc_id     = aws_vpc.main.id
  cidr_block = "10.81.1.0/24"
}}

resource "aws_instance" "app" {{
  ami           = "{AMI}"
  instance_type = var.instance_type
  subnet_id     = aws_subnet.a.id
  tags          = {{ Tier = var.tier }}
}}

resource "terraform_data" "secret" {{
  input = sha256(var.secret)
}}
{extra}"#
    )
}

async fn store(p: &Project) -> std::sync::Arc<dyn StateStore> {
    open_store(
        "sqlite:state/terrace.db",
        p.path(),
        terrace_state::StoreOptions::default(),
    )
    .await
    .expect("open store")
}

async fn records(p: &Project, env: &str) -> Vec<LedgerRecord> {
    store(p)
        .await
        .ledger_list(&LedgerQuery {
            env: Some(env.into()),
            since: None,
        })
        .await
        .expect("list the ledger")
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// (instance type, Tier tag) of the running instance of `env`.
async fn instance(ec2: &aws_sdk_ec2::Client, env: &str) -> (String, String) {
    let out = ec2
        .describe_instances()
        .filters(filter("tag:terrace:environment", env))
        .filters(filter("instance-state-name", "running"))
        .send()
        .await
        .expect("describe instances");
    let all: Vec<_> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(all.len(), 1, "one running instance: {all:#?}");
    let i = all[0];
    let tier = i
        .tags()
        .iter()
        .find(|t| t.key() == Some("Tier"))
        .and_then(|t| t.value())
        .unwrap_or_default()
        .to_string();
    (
        i.instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        tier,
    )
}

async fn bucket_exists(s3: &aws_sdk_s3::Client, name: &str) -> bool {
    s3.head_bucket().bucket(name).send().await.is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_returns_the_infrastructure_to_the_previous_apply() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = Project::new().with_moto(moto);
    let env = format!("rb{}", crate::support::suffix());
    let bucket = format!("terrace-rb-{}", crate::support::suffix());
    let secret = [("TF_VAR_secret", "hunter2-do-not-store")];

    p.write_env(
        &env,
        &[
            ("main.tf", &config("t3.micro", "")),
            ("terraform.tfvars", "tier = \"A\"\n"),
            ("policy.json", "{\"v\": 1}\n"),
        ],
    );
    let r = p.run_env(&["apply", "-e", &env, "--auto-approve"], &secret);
    assert_eq!(r.code, 0, "{}", r.all());

    let v2_extra =
        format!("\nresource \"aws_s3_bucket\" \"extra\" {{\n  bucket = \"{bucket}\"\n}}\n");
    p.write_env(
        &env,
        &[
            ("main.tf", &config("t3.small", &v2_extra)),
            ("terraform.tfvars", "tier = \"B\"\n"),
            ("policy.json", "{\"v\": 2}\n"),
        ],
    );
    let r = p.run_env(&["apply", "-e", &env, "--auto-approve"], &secret);
    assert_eq!(r.code, 0, "{}", r.all());

    let sdk = sdk_config(moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::new(&sdk);
    assert_eq!(instance(&ec2, &env).await, ("t3.small".into(), "B".into()));
    assert!(bucket_exists(&s3, &bucket).await);

    // The records so far: snapshots differ, identity and hashes are there,
    // and the secret is stored nowhere in the snapshot.
    let recs = records(&p, &env).await;
    assert_eq!(recs.len(), 2, "{recs:#?}");
    let (v1, v2) = (&recs[0], &recs[1]);
    assert_eq!(v1.identity.aws_account.as_deref(), Some("123456789012"));
    assert!(
        v1.identity
            .aws_arn
            .as_deref()
            .is_some_and(|a| a.starts_with("arn:aws:")),
        "{v1:#?}"
    );
    let (s1, s2) = (v1.snapshot.clone().unwrap(), v2.snapshot.clone().unwrap());
    assert_ne!(s1, s2);
    let st = store(&p).await;
    let manifest: ConfigSnapshot =
        serde_json::from_str(&st.blob_get(&s1).await.unwrap().expect("snapshot blob")).unwrap();
    assert_eq!(manifest.env_dir, format!("environments/{env}"));
    assert_eq!(manifest.variables["tier"], "A");
    assert_eq!(manifest.variables["instance_type"], "t3.micro");
    assert_eq!(manifest.sensitive_omitted, ["secret"]);
    let files: Vec<&String> = manifest.files.keys().collect();
    assert!(
        files.contains(&&format!("environments/{env}/main.tf"))
            && files.contains(&&format!("environments/{env}/policy.json")),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|f| f.ends_with(".tfvars")),
        "variable files are not stored: {files:?}"
    );
    for hash in manifest.files.values().chain([&s1]) {
        let text = st.blob_get(hash).await.unwrap().unwrap();
        assert!(!text.contains("hunter2"), "secret stored in {hash}: {text}");
    }
    // --dry-run shows the way back and changes nothing.
    let r = p.run_env(
        &["rollback", "-e", &env, "--dry-run", "--detailed-exitcode"],
        &secret,
    );
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains(&v1.id), "{}", r.all());
    assert!(
        r.stdout.contains("aws_s3_bucket.extra will be destroyed"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.contains("\"t3.small\" -> \"t3.micro\""),
        "{}",
        r.all()
    );
    assert_eq!(instance(&ec2, &env).await, ("t3.small".into(), "B".into()));
    assert_eq!(records(&p, &env).await.len(), 2);

    // Saved with --out (as a reviewed pipeline does), then applied from
    // the file: the plan was made against v1's snapshot, and is applied
    // against it, as a rollback.
    let r = p.run_env(&["rollback", "-e", &env, "--out", "rb.tfplan"], &secret);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("terrace apply rb.tfplan"), "{}", r.all());
    assert_eq!(instance(&ec2, &env).await, ("t3.small".into(), "B".into()));
    let r = p.run_env(&["apply", "rb.tfplan", "--auto-approve"], &secret);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(instance(&ec2, &env).await, ("t3.micro".into(), "A".into()));

    assert!(
        !bucket_exists(&s3, &bucket).await,
        "the added bucket is deleted"
    );

    let recs = records(&p, &env).await;
    assert_eq!(recs.len(), 3, "{recs:#?}");
    let rb = &recs[2];
    assert_eq!(rb.operation, "rollback");
    assert_eq!(rb.outcome, Outcome::Succeeded);
    assert_eq!(rb.restores.as_deref(), Some(v1.id.as_str()));
    // The same configuration: the same snapshot address, stored once.
    assert_eq!(rb.snapshot.as_deref(), Some(s1.as_str()));
    assert_eq!(rb.counts.deletes, 1, "{rb:#?}");
    assert!(rb.changed.contains(&"aws_instance.app".to_string()));

    // `terrace log show` names what the rollback restored.
    let r = p.run(&["log", "show", &rb.id]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains(&v1.id), "{}", r.all());

    // Applied once: the same file is stale now.
    let r = p.run_env(&["apply", "rb.tfplan", "--auto-approve"], &secret);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("run `terrace plan` again"), "{}", r.all());

    // Rolling back again returns to v2 (the last succeeded apply with
    // another configuration than the current one).
    let r = p.run_env(&["rollback", "-e", &env, "--dry-run"], &secret);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("aws_s3_bucket.extra will be created"),
        "{}",
        r.all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_is_refused_with_a_reason_and_recorded() {
    let p = Project::new();
    let env = "rf";
    let v1 = "resource \"terraform_data\" \"a\" {\n  input = \"one\"\n}\n";
    p.write_env(env, &[("main.tf", v1)]);

    // Nothing to return to yet: refused, recorded, nothing changed.
    let r = p.run(&["rollback", "-e", env, "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("rollback refused"), "{}", r.all());
    assert!(r.stderr.contains("no applies"), "{}", r.all());

    let r = p.run(&["apply", "-e", env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    p.write_env(
        env,
        &[(
            "main.tf",
            "resource \"terraform_data\" \"a\" {\n  input = \"two\"\n}\n",
        )],
    );
    let r = p.run(&["apply", "-e", env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());

    // The snapshot's file is gone from the store (simulating an older
    // store or lost data): refused, naming the file; nothing changed.
    let recs = records(&p, env).await;
    let first = recs
        .iter()
        .find(|r| r.operation == "apply")
        .unwrap()
        .clone();
    let st = store(&p).await;
    let manifest: ConfigSnapshot = serde_json::from_str(
        &st.blob_get(first.snapshot.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let main_blob = manifest.files[&format!("environments/{env}/main.tf")].clone();
    let db = p.path().join("state/terrace.db");
    let out = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(format!("DELETE FROM blobs WHERE hash = '{main_blob}'"))
        .output();
    if out.is_ok_and(|o| o.status.success()) {
        let r = p.run(&["rollback", "-e", env, "--auto-approve"]);
        assert_eq!(r.code, 1, "{}", r.all());
        assert!(
            r.stderr.contains("rollback refused")
                && r.stderr.contains("main.tf")
                && r.stderr.contains("no longer in the store"),
            "{}",
            r.all()
        );
    }

    // --to a record that is not a succeeded apply.
    let refused = records(&p, env).await[0].clone();
    assert_eq!(refused.outcome, Outcome::Refused);
    assert_eq!(refused.operation, "rollback");
    let r = p.run(&["rollback", "-e", env, "--to", &refused.id, "--dry-run"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("succeeded apply"), "{}", r.all());
    let r = p.run(&["rollback", "-e", env, "--to", "no-such-id"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("no ledger record no-such-id"),
        "{}",
        r.all()
    );

    // The state still holds "two": nothing was changed by the refusals.
    let state = st.read(env).await.unwrap().unwrap();
    let text = serde_json::to_string(&state.resources).unwrap();
    assert!(text.contains("\"two\""), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_prunes_old_records_and_records_the_pruning() {
    let p = Project::new();
    std::fs::write(
        p.path().join("terrace.hcl"),
        "environments_dir = \"environments\"\nstate {\n  url = \"sqlite:state/terrace.db\"\n}\nledger {\n  retention_days = 30\n}\n",
    )
    .unwrap();
    let env = "ret";
    p.write_env(
        env,
        &[(
            "main.tf",
            "resource \"terraform_data\" \"a\" {\n  input = 1\n}\n",
        )],
    );
    let r = p.run(&["apply", "-e", env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    // A record from 31 days ago (pruned) and one from 29 (kept).
    let st = store(&p).await;
    let mut old = LedgerRecord::open(env, "apply", Default::default()).closed(Outcome::Succeeded);
    old.started_at = chrono::Utc::now() - chrono::Duration::days(31);
    st.ledger_open(&old).await.unwrap();
    let mut recent = LedgerRecord::open(env, "apply", Default::default()).closed(Outcome::Failed);
    recent.started_at = chrono::Utc::now() - chrono::Duration::days(29);
    st.ledger_open(&recent).await.unwrap();

    let r = p.run(&["apply", "-e", env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let recs = records(&p, env).await;
    assert!(recs.iter().all(|r| r.id != old.id), "{recs:#?}");
    assert!(recs.iter().any(|r| r.id == recent.id), "{recs:#?}");
    let prune: Vec<_> = recs.iter().filter(|r| r.operation == "prune").collect();
    assert_eq!(prune.len(), 1, "{recs:#?}");
    assert_eq!(prune[0].pruned, Some(1));
    assert_eq!(prune[0].outcome, Outcome::Succeeded);

    // A bad retention is a config error at its line.
    std::fs::write(
        p.path().join("terrace.hcl"),
        "environments_dir = \"environments\"\nledger {\n  retention_days = 0\n}\n",
    )
    .unwrap();
    let r = p.run(&["log", "-e", env]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("retention_days must be a whole number") && r.stderr.contains("line 3"),
        "{}",
        r.all()
    );
}

/// Issue 18: the snapshot blobs of pruned records are collected by
/// `env gc` once past the grace period; those of the records kept stay; a
/// snapshot manifest that cannot be read stops the sweep with nothing
/// removed.
#[tokio::test(flavor = "multi_thread")]
async fn env_gc_collects_the_snapshots_of_pruned_records() {
    let p = Project::new();
    std::fs::write(
        p.path().join("terrace.hcl"),
        "environments_dir = \"environments\"\nstate {\n  url = \"sqlite:state/terrace.db\"\n}\nledger {\n  blob_grace_days = 2\n}\n",
    )
    .unwrap();
    let env = "snap";
    let apply = |input: &str| {
        p.write_env(
            env,
            &[(
                "main.tf",
                &format!("resource \"terraform_data\" \"a\" {{\n  input = \"{input}\"\n}}\n"),
            )],
        );
        let r = p.run(&["apply", "-e", env, "--auto-approve"]);
        assert_eq!(r.code, 0, "{}", r.all());
    };
    apply("one");
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    apply("two");
    let recs = records(&p, env).await;
    assert_eq!(recs.len(), 2, "{recs:#?}");
    let st = store(&p).await;
    let blobs_of = |rec: &LedgerRecord| {
        let st = st.clone();
        let manifest = rec.snapshot.clone().expect("a snapshot");
        async move {
            let text = st.blob_get(&manifest).await.unwrap().expect("manifest");
            let snap: ConfigSnapshot = serde_json::from_str(&text).unwrap();
            let mut all: Vec<String> = snap.files.into_values().collect();
            all.push(manifest);
            all
        }
    };
    let first = blobs_of(&recs[0]).await;
    let second = blobs_of(&recs[1]).await;
    assert!(first.iter().all(|b| !second.contains(b)), "main.tf changed");
    // Retention removes the first record (as `ledger { retention_days }`
    // does after an apply).
    assert_eq!(st.ledger_prune(env, between).await.unwrap(), 1);
    let later = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();

    // A record whose snapshot manifest is not one: the sweep stops, exit 1,
    // nothing removed.
    let bad = st.blob_put("{ not a manifest").await.unwrap();
    let mut odd = LedgerRecord::open(env, "apply", Default::default()).closed(Outcome::Succeeded);
    odd.started_at = chrono::Utc::now() - chrono::Duration::days(400);
    odd.snapshot = Some(bad);
    st.ledger_open(&odd).await.unwrap();
    let r = p.run_env(&["env", "gc"], &[("TERRACE_NOW", later.as_str())]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("could not collect unused blobs") && r.stderr.contains(&odd.id),
        "{}",
        r.all()
    );
    for b in &first {
        assert!(st.blob_get(b).await.unwrap().is_some(), "{b} kept");
    }
    let cutoff = chrono::Utc::now() - chrono::Duration::days(300);
    assert_eq!(st.ledger_prune(env, cutoff).await.unwrap(), 1);

    // Within the grace period nothing goes; past it, the pruned record's
    // blobs go and the kept record's stay.
    let r = p.run(&["env", "gc"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.stdout.contains("Removed"), "{}", r.all());
    let r = p.run_env(&["env", "gc"], &[("TERRACE_NOW", later.as_str())]);
    assert_eq!(r.code, 0, "{}", r.all());
    // The first record's manifest and files, and the unreadable manifest.
    let removed = format!("Removed {} stored blob(s)", first.len() + 1);
    assert!(r.stdout.contains(&removed), "{}", r.all());
    for b in &first {
        assert_eq!(st.blob_get(b).await.unwrap(), None, "{b} removed");
    }
    for b in &second {
        assert!(st.blob_get(b).await.unwrap().is_some(), "{b} kept");
    }
    // A dry run and a shard other than the first sweep nothing.
    let far = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    for args in [
        &["env", "gc", "--dry-run"][..],
        &["env", "gc", "--shard", "2/2"],
    ] {
        st.blob_put("orphan").await.unwrap();
        let r = p.run_env(args, &[("TERRACE_NOW", far.as_str())]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(!r.stdout.contains("Removed"), "{args:?}: {}", r.all());
    }
}
