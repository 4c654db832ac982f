//! Policies against moto: a denied plan exits 1 with the policy's message
//! and file:line, its saved plan cannot be applied (nor can `apply`
//! without a plan file), a `warn` policy never blocks, a changed policy is
//! evaluated again when a saved plan is applied, and a condition unknown at
//! plan is checked again at apply. The fixtures are written here; the
//! shipped environments are not used.

use crate::support::{Project, copy_dir, sdk_config, suffix};

fn tags_policy(enforcement: &str) -> String {
    format!(
        r#"policy "cost-tags" {{
  environments   = ["stage*", "prod"]
  resource_types = ["aws_s3_*"]
  enforcement    = "{enforcement}"
  condition      = alltrue([for k in ["CostCenter", "Owner"] : contains(keys(change.after.tags_all), k)])
  error_message  = "every bucket in ${{environment}} needs CostCenter and Owner tags (${{resource.address}})"
}}
"#
    )
}

fn write_policy(p: &Project, name: &str, text: &str) {
    let d = p.path().join("policies");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(name), text).unwrap();
}

/// A project against moto with one policy file.
fn policy_project(moto: &terrace_testkit::Moto, file: &str, text: &str) -> Project {
    let p = Project::new().with_moto(moto);
    write_policy(&p, file, text);
    p
}

async fn bucket_exists(moto: &terrace_testkit::Moto, name: &str) -> bool {
    let s3 = aws_sdk_s3::Client::new(&sdk_config(moto).await);
    s3.head_bucket().bucket(name).send().await.is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untagged_bucket_in_stage_is_denied_until_the_policy_only_warns() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let sfx = suffix();
    let p = policy_project(moto, "tags.tf", &tags_policy("deny"));
    let bucket = format!("untagged-{sfx}");
    // A `stage*` name of its own: moto is shared, and another test's
    // `stage` would see this bucket as unmanaged while it exists.
    let env = format!("stage-{sfx}");
    p.write_env(
        &env,
        &[(
            "main.tf",
            &format!(
                r#"
resource "aws_s3_bucket" "logs" {{
  bucket = "{bucket}"
  tags   = {{ Owner = "platform" }}
}}
"#
            ),
        )],
    );

    // The plan is denied: exit 1, the policy's message, where the policy is.
    let r = p.run(&["plan", "-e", &env, "--out", "stage.tfplan"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains(&format!(
            "every bucket in {env} needs CostCenter and Owner tags (aws_s3_bucket.logs)"
        )),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("policies/tags.tf"), "{}", r.all());
    assert!(r.stderr.contains("line 1"), "{}", r.all());
    assert!(r.stdout.contains("1 denied"), "{}", r.all());
    assert!(p.path().join("stage.tfplan").exists());

    // plan --json carries policy_results beside Terraform's fields.
    let r = p.run(&["plan", "-e", &env, "--json"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let doc: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}", r.all()));
    assert!(doc["resource_changes"].is_array());
    let pr = &doc["policy_results"];
    assert_eq!(pr["denied"], true, "{pr}");
    assert_eq!(pr["results"][0]["policy"], "cost-tags");
    assert_eq!(pr["results"][0]["status"], "fail");
    assert_eq!(pr["results"][0]["address"], "aws_s3_bucket.logs");
    assert_eq!(pr["results"][0]["source"]["filename"], "policies/tags.tf");

    // The saved plan carries the results, and cannot be applied.
    let r = p.run(&["show", "--json", "stage.tfplan"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let doc: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}", r.all()));
    assert_eq!(doc["policy_results"]["denied"], true);
    let r = p.run(&["apply", "stage.tfplan"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("Policy \"cost-tags\" denied aws_s3_bucket.logs"),
        "{}",
        r.all()
    );
    // Nor does apply without a plan file go ahead.
    let r = p.run(&["apply", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("needs CostCenter and Owner"),
        "{}",
        r.all()
    );
    assert!(
        !bucket_exists(moto, &bucket).await,
        "nothing may be created"
    );
    // The ledger records both denied applies as refused (nothing changed),
    // not as failed, with the denial as the reason.
    let r = p.run(&["log", "-e", &env, "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let recs: Vec<terrace_state::LedgerRecord> =
        serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}", r.all()));
    assert_eq!(recs.len(), 2, "{recs:?}");
    for rec in &recs {
        assert_eq!(rec.outcome, terrace_state::Outcome::Refused, "{rec:?}");
        let why = rec.error.as_deref().unwrap_or_default();
        assert!(
            why.starts_with("refused: Policy \"cost-tags\" denied aws_s3_bucket.logs"),
            "{rec:?}"
        );
    }

    // The reports for CI: SARIF and JUnit.
    let r = p.run(&["policy", "check", "-e", &env, "--format", "sarif"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let sarif: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}", r.all()));
    let res = &sarif["runs"][0]["results"][0];
    assert_eq!(res["level"], "error");
    assert_eq!(res["ruleId"], "cost-tags");
    let r = p.run(&["policy", "check", "-e", &env, "--format", "junit"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("<failure type=\"policy-deny\""),
        "{}",
        r.all()
    );

    // Another environment the policy does not name is not checked.
    p.write_env(
        "dev",
        &[(
            "main.tf",
            &format!("resource \"aws_s3_bucket\" \"logs\" {{\n  bucket = \"dev-{bucket}\"\n}}\n"),
        )],
    );
    let r = p.run(&["plan", "-e", "dev"]);
    assert_eq!(r.code, 0, "{}", r.all());

    // The policy becomes a warning: the saved plan is evaluated again (the
    // policies changed since it was saved) and applies, with the warning.
    write_policy(&p, "tags.tf", &tags_policy("warn"));
    let r = p.run(&["plan", "-e", &env]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("1 warned"), "{}", r.all());
    assert!(
        r.stderr.contains("Warning: Policy \"cost-tags\""),
        "{}",
        r.all()
    );
    let r = p.run(&["apply", "stage.tfplan"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.all()
            .contains("policies changed since this plan was saved"),
        "{}",
        r.all()
    );
    assert!(
        r.all().contains("needs CostCenter and Owner"),
        "{}",
        r.all()
    );
    assert!(bucket_exists(moto, &bucket).await);

    let r = p.run(&["destroy", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_condition_unknown_at_plan_is_checked_again_at_apply() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let sfx = suffix();
    let p = Project::new().with_moto(moto);
    let env = format!("stage-{sfx}");
    // A bucket may not be tagged with a VPC's ID: the ID exists only once the
    // VPC is created, so the plan cannot decide.
    write_policy(
        &p,
        "source.tf",
        r#"policy "no-vpc-source" {
  environments   = ["stage-*"]
  resource_types = ["aws_s3_bucket"]
  condition      = !startswith(try(change.after.tags["Source"], ""), "vpc-")
  error_message  = "${resource.address} may not name a VPC as its source"
}
"#,
    );
    let bucket = format!("tagged-{sfx}");
    p.write_env(
        &env,
        &[(
            "main.tf",
            &format!(
                r#"
resource "aws_vpc" "a" {{
  cidr_block = "10.77.0.0/16"
}}

resource "aws_s3_bucket" "b" {{
  bucket = "{bucket}"
  tags   = {{ Source = aws_vpc.a.id }}
}}
"#
            ),
        )],
    );
    let r = p.run(&["plan", "-e", &env]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr
            .contains("Policy \"no-vpc-source\" cannot be decided until apply"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.contains("1 cannot be decided until apply"),
        "{}",
        r.all()
    );

    let r = p.run(&["apply", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("denied at apply"), "{}", r.all());
    assert!(
        r.stderr
            .contains("aws_s3_bucket.b may not name a VPC as its source"),
        "{}",
        r.all()
    );
    assert!(
        !bucket_exists(moto, &bucket).await,
        "the denied bucket was created"
    );
    let r = p.run(&["state", "list", "-e", &env]);
    assert!(r.stdout.contains("aws_vpc.a"), "{}", r.all());
    assert!(!r.stdout.contains("aws_s3_bucket.b"), "{}", r.all());

    let r = p.run(&["destroy", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn a_broken_policy_file_stops_the_plan_at_its_line() {
    let p = Project::new();
    write_policy(
        &p,
        "bad.tf",
        "policy \"x\" {\n  enforcement = \"deny\"\n  condition   = var.enabled\n}\n",
    );
    p.write_env("dev", &[("main.tf", "locals {\n  a = 1\n}\n")]);
    let r = p.run(&["plan", "-e", "dev"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("Invalid reference in a policy"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("policies/bad.tf line 3"), "{}", r.all());
}

/// Issue 19's done-when: the shipped environments pass the shipped
/// policies (deny results none; results undecided until apply allowed,
/// they are checked again then).
#[test]
fn the_shipped_environments_pass_the_shipped_policies() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let p = Project::new().with_moto(moto);
    let root = terrace_testkit::workspace_root();
    for dir in ["modules", "environments", "policies"] {
        copy_dir(&root.join(dir), &p.path().join(dir));
    }
    for env in ["dev", "stage", "prod"] {
        let r = p.run(&["policy", "check", "-e", env, "--format", "json"]);
        assert_eq!(r.code, 0, "{env}: the shipped policies deny\n{}", r.all());
        let doc: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{env}: policy check --format json: {e}\n{}", r.all()));
        let text = doc.to_string();
        // The policies ran: the cost-tag policy has results in stage and prod.
        if env != "dev" {
            assert!(text.contains("cost-tags"), "{env}: {doc:#}");
        }
    }
}

/// Issue 19: drift evaluates the policies on the live objects. A bucket
/// whose public access block is deleted outside terrace fails the policy
/// the configuration passes: a denied result in drift's JSON, JUnit and
/// SARIF, and drift's findings exit code (2).
#[tokio::test(flavor = "multi_thread")]
async fn drift_reports_policies_failed_by_the_live_objects() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let sfx = suffix();
    let p = policy_project(
        moto,
        "s3.tf",
        r#"policy "public-access-blocked" {
  resource_types = ["aws_s3_bucket"]
  condition = anytrue([
    for r in plan.resource_changes :
    r.type == "aws_s3_bucket_public_access_block"
    && contains(r.depends_on, resource.block_address)
    && try(r.after.block_public_acls && r.after.restrict_public_buckets, false)
  ])
  error_message = "${resource.address} has no public access block"
}
"#,
    );
    let bucket = format!("pab-{sfx}");
    // Its own environment name: moto is shared, and another test's `stage`
    // would see this bucket as unmanaged.
    let env = format!("pab-{sfx}");
    p.write_env(
        &env,
        &[(
            "main.tf",
            &format!(
                r#"
resource "aws_s3_bucket" "b" {{
  bucket = "{bucket}"
}}

resource "aws_s3_bucket_public_access_block" "b" {{
  bucket                  = aws_s3_bucket.b.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}}
"#
            ),
        )],
    );
    let r = p.run(&["apply", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let drift_json = || {
        let r = p.run(&["drift", "-e", &env, "--format", "json"]);
        let doc: serde_json::Value =
            serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}", r.all()));
        (r, doc)
    };
    let (r, doc) = drift_json();
    assert_eq!(r.code, 0, "{}", r.all());
    let pr = &doc["policy_results"];
    assert_eq!(pr["denied"], false, "{pr}");
    assert_eq!(pr["results"][0]["status"], "pass", "{pr}");

    // Removed outside terrace.
    let s3 = aws_sdk_s3::Client::new(&sdk_config(moto).await);
    s3.delete_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let (r, doc) = drift_json();
    assert_eq!(r.code, 2, "{}", r.all());
    let pr = &doc["policy_results"];
    assert_eq!(pr["denied"], true, "{pr}");
    assert_eq!(pr["summary"]["denied"], 1, "{pr}");
    let res = &pr["results"][0];
    assert_eq!(res["address"], "aws_s3_bucket.b");
    assert_eq!(res["status"], "fail");
    assert_eq!(res["message"], "aws_s3_bucket.b has no public access block");

    let r = p.run(&[
        "drift", "-e", &env, "--format", "junit", "--output", "d.xml", "--format", "sarif",
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    let junit = std::fs::read_to_string(p.path().join("d.xml")).unwrap();
    assert!(
        junit.contains(
            "<testcase classname=\"public-access-blocked\" name=\"aws_s3_bucket.b\" file=\"policies/s3.tf\" line=\"1\">"
        ) && junit.contains("<failure type=\"policy-deny\""),
        "{junit}"
    );
    let sarif: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}", r.all()));
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let denial = results
        .iter()
        .find(|x| x["ruleId"] == "public-access-blocked")
        .unwrap_or_else(|| panic!("{sarif:#}"));
    assert_eq!(denial["level"], "error");
    assert_eq!(
        denial["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "policies/s3.tf"
    );
    let r = p.run(&["drift", "-e", &env]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("1 denied"), "{}", r.all());
}
