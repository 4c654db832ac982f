//! Drift detection against moto: changes made with the AWS SDK outside
//! terrace land in the right category (changed / missing / unmanaged),
//! pending config changes are not drift, `.terraceignore` is honoured, the
//! reports (JSON, JUnit, SARIF, Markdown) are well-formed, drift never writes
//! state or needs the lock, and reads are batched.

use crate::lifecycle::AMI;
use crate::support::{Project, Run, sdk_config, suffix};
use aws_sdk_ec2::types::{
    AttributeValue, Filter, InstanceType, IpPermission, IpRange, ResourceType, Tag,
    TagSpecification,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

// ---- helpers ---------------------------------------------------------------

/// Run `terrace drift -e ENV --format json` (plus `extra`) and parse stdout.
fn drift_json(project: &Project, env: &str, extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["drift", "-e", env, "--format", "json"];
    args.extend_from_slice(extra);
    let r = project.run(&args);
    let doc: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("drift --format json is not JSON ({e})\n{}", r.all()));
    (r, doc)
}

/// The serial of the environment's state, from `terrace state pull`.
fn serial(project: &Project, env: &str) -> u64 {
    let r = project.run(&["state", "pull", "-e", env]);
    assert_eq!(r.code, 0, "{}", r.all());
    let doc: Value = serde_json::from_str(&r.stdout).expect("state pull prints JSON");
    doc["serial"].as_u64().expect("state has a serial")
}

fn apply(project: &Project, env: &str) {
    let r = project.run(&["apply", "-e", env, "--auto-approve"]);
    assert_eq!(r.code, 0, "apply failed\n{}", r.all());
}

/// The report's drift items of one category, by address.
fn items<'a>(report: &'a Value, category: &str) -> BTreeMap<String, &'a Value> {
    report["drift"]
        .as_array()
        .expect("drift is an array")
        .iter()
        .filter(|i| i["category"] == category)
        .map(|i| (i["address"].as_str().unwrap_or_default().to_string(), i))
        .collect()
}

/// The attribute diff of a drift item at exactly `path`.
fn attr<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    item["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["path"] == path)
}

fn paths(item: &Value) -> Vec<String> {
    item["attributes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["path"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// The ID of the instance tagged `terrace:address = ADDRESS` in `env`.
async fn instance_id(ec2: &aws_sdk_ec2::Client, env: &str, address: &str) -> String {
    let out = ec2
        .describe_instances()
        .filters(filter("tag:terrace:environment", env))
        .filters(filter("tag:terrace:address", address))
        .filters(filter("instance-state-name", "running"))
        .send()
        .await
        .expect("describe instances");
    let ids: Vec<String> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 1, "one instance for {address}: {ids:?}");
    ids[0].clone()
}

async fn wait_instance_state(ec2: &aws_sdk_ec2::Client, id: &str, want: &str) {
    for _ in 0..100 {
        let out = ec2
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .expect("describe instance");
        let state = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| i.state().and_then(|s| s.name()))
            .map(|n| n.as_str().to_string())
            .next();
        if state.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("instance {id} never became {want}");
}

fn s3_client(cfg: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(cfg)
            .force_path_style(true)
            .build(),
    )
}

// ---- changed ---------------------------------------------------------------

fn changed_config() -> String {
    format!(
        r#"
locals {{
  tags = {{ Team = "platform" }}
}}

resource "aws_vpc" "main" {{
  cidr_block = "10.61.0.0/16"
  tags       = local.tags
}}

resource "aws_subnet" "a" {{
  vpc_id     = aws_vpc.main.id
  cidr_block = "10.61.1.0/24"
}}

resource "aws_security_group" "runner" {{
  name   = "drift-${{terrace.environment}}-runner"
  vpc_id = aws_vpc.main.id

  ingress {{
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }}
}}

resource "aws_instance" "runner" {{
  ami                    = "{AMI}"
  instance_type          = "t3.micro"
  subnet_id              = aws_subnet.a.id
  vpc_security_group_ids = [aws_security_group.runner.id]
  tags                   = {{ Name = "runner" }}
}}

resource "aws_ecr_repository" "images" {{
  name                 = "drift-${{terrace.environment}}-images"
  image_tag_mutability = "MUTABLE"
}}

resource "aws_s3_bucket" "cache" {{
  bucket = "drift-${{terrace.environment}}-cache"
}}

resource "aws_s3_bucket_versioning" "cache" {{
  bucket = aws_s3_bucket.cache.id
  versioning_configuration {{
    status = "Enabled"
  }}
}}
"#
    )
}

/// Five kinds of out-of-band change are each reported as `changed` with the
/// attribute diff; the reports in every format agree; state is untouched;
/// history records the runs; `apply --refresh-only` accepts the drift.
#[tokio::test(flavor = "multi_thread")]
async fn changes_outside_terrace_are_reported_as_changed() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let project = Project::new().with_moto(moto);
    let env = format!("dc{}", suffix());
    project.write_env(&env, &[("main.tf", &changed_config())]);
    apply(&project, &env);

    // Untouched: in sync, exit 0.
    let (r, report) = drift_json(&project, &env, &[]);
    assert_eq!(
        r.code,
        0,
        "an untouched environment is in sync\n{}",
        r.all()
    );
    assert_eq!(report["counts"]["changed"], 0, "{report:#}");
    assert!(report["drift"].as_array().unwrap().is_empty(), "{report:#}");
    assert_eq!(report["counts"]["in_sync"], 7, "{report:#}");
    let serial_before = serial(&project, &env);

    // Change five things outside terrace.
    let cfg = sdk_config(moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&cfg);
    let ecr = aws_sdk_ecr::Client::new(&cfg);
    let s3 = s3_client(&cfg);

    let vpc = ec2
        .describe_vpcs()
        .filters(filter("tag:terrace:environment", &env))
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpcs()[0].vpc_id().unwrap().to_string();
    ec2.create_tags()
        .resources(&vpc_id)
        .tags(Tag::builder().key("Team").value("someone-else").build())
        .send()
        .await
        .unwrap();

    let iid = instance_id(&ec2, &env, "aws_instance.runner").await;
    ec2.stop_instances()
        .instance_ids(&iid)
        .send()
        .await
        .unwrap();
    wait_instance_state(&ec2, &iid, "stopped").await;
    ec2.modify_instance_attribute()
        .instance_id(&iid)
        .instance_type(AttributeValue::builder().value("t3.small").build())
        .send()
        .await
        .unwrap();
    ec2.start_instances()
        .instance_ids(&iid)
        .send()
        .await
        .unwrap();
    wait_instance_state(&ec2, &iid, "running").await;
    let described = ec2
        .describe_instances()
        .instance_ids(&iid)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.reservations()[0].instances()[0].instance_type(),
        Some(&InstanceType::T3Small),
        "the SDK change took effect"
    );

    let sg = ec2
        .describe_security_groups()
        .filters(filter("group-name", &format!("drift-{env}-runner")))
        .send()
        .await
        .unwrap();
    let sg_id = sg.security_groups()[0].group_id().unwrap().to_string();
    ec2.authorize_security_group_ingress()
        .group_id(&sg_id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();

    ecr.put_image_tag_mutability()
        .repository_name(format!("drift-{env}-images"))
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
        .send()
        .await
        .unwrap();

    s3.put_bucket_versioning()
        .bucket(format!("drift-{env}-cache"))
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();

    // The drift run: JSON on stdout.
    let dir = project.path();
    let (junit, sarif, md) = (
        dir.join("drift.xml"),
        dir.join("drift.sarif"),
        dir.join("drift.md"),
    );
    let (r, report) = drift_json(&project, &env, &[]);
    assert_eq!(r.code, 2, "drift exits 2\n{}", r.all());
    let changed = items(&report, "changed");
    assert_eq!(
        changed.keys().cloned().collect::<Vec<_>>(),
        [
            "aws_ecr_repository.images",
            "aws_instance.runner",
            "aws_s3_bucket_versioning.cache",
            "aws_security_group.runner",
            "aws_vpc.main",
        ],
        "{report:#}"
    );
    assert!(items(&report, "missing").is_empty(), "{report:#}");
    assert!(items(&report, "unmanaged").is_empty(), "{report:#}");
    assert_eq!(report["counts"]["changed"], 5, "{report:#}");
    assert_eq!(report["counts"]["in_sync"], 2, "{report:#}");

    let tag = attr(changed["aws_vpc.main"], "tags.Team").expect("tags.Team diff");
    assert_eq!(tag["before"], "platform");
    assert_eq!(tag["after"], "someone-else");
    let it = attr(changed["aws_instance.runner"], "instance_type").expect("instance_type diff");
    assert_eq!(it["before"], "t3.micro");
    assert_eq!(it["after"], "t3.small");
    let m = attr(changed["aws_ecr_repository.images"], "image_tag_mutability")
        .expect("image_tag_mutability diff");
    assert_eq!(m["before"], "MUTABLE");
    assert_eq!(m["after"], "IMMUTABLE");
    // A block list is compared as a whole: the diff holds the old and new
    // block.
    let ver = changed["aws_s3_bucket_versioning.cache"];
    let status = ver["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("versioning_configuration"))
        })
        .unwrap_or_else(|| panic!("versioning diff in {:?}", paths(ver)));
    assert!(
        status["before"].to_string().contains("\"Enabled\""),
        "{ver:#}"
    );
    assert!(
        !status["before"].to_string().contains("Suspended"),
        "{ver:#}"
    );
    assert!(
        status["after"].to_string().contains("\"Suspended\""),
        "{ver:#}"
    );
    let sg_paths = paths(changed["aws_security_group.runner"]);
    assert!(
        sg_paths.iter().any(|p| p.starts_with("ingress")),
        "{sg_paths:?}"
    );
    assert!(
        changed["aws_security_group.runner"]
            .to_string()
            .contains("0.0.0.0/0"),
        "the new rule is in the diff: {:#}",
        changed["aws_security_group.runner"]
    );

    // The same drift in every other format, to files, in one run; JSON last
    // so it has no --output and goes to stdout.
    let r = project.run(&[
        "drift",
        "-e",
        &env,
        "--format",
        "junit",
        "--format",
        "sarif",
        "--format",
        "markdown",
        "--format",
        "json",
        "--output",
        junit.to_str().unwrap(),
        "--output",
        sarif.to_str().unwrap(),
        "--output",
        md.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    let again: Value = serde_json::from_str(&r.stdout).expect("json on stdout");
    assert_eq!(again["counts"], report["counts"]);

    check_junit(&std::fs::read_to_string(&junit).unwrap(), &env, &changed);
    check_sarif(&std::fs::read_to_string(&sarif).unwrap(), &changed);
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.starts_with("## terrace drift report"), "{md}");
    assert!(md.contains(&format!("| `{env}` | 5 | 0 | 0 |")), "{md}");
    for a in changed.keys() {
        assert!(md.contains(&format!("`{a}`")), "{a} in markdown:\n{md}");
    }

    // Detecting never wrote state.
    assert_eq!(serial(&project, &env), serial_before, "drift wrote state");

    // History lists the three runs, newest first.
    let r = project.run(&["drift", "history", "-e", &env, "--json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let runs: Value = serde_json::from_str(&r.stdout).expect("history JSON");
    let runs = runs.as_array().expect("array of runs");
    assert_eq!(runs.len(), 3, "{runs:#?}");
    assert!(runs.iter().all(|x| x["environment"] == env.as_str()));
    let changed_counts: Vec<u64> = runs
        .iter()
        .map(|x| x["changed"].as_u64().unwrap())
        .collect();
    assert_eq!(changed_counts, [5, 5, 0], "{runs:#?}");
    let r = project.run(&["drift", "history", "-e", &env]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("drift") && r.stdout.contains("in sync"),
        "{}",
        r.all()
    );

    // Accept the drift into state: drift is then clean (the config still
    // differs, which is pending, not drift).
    let r = project.run(&["apply", "-e", &env, "--refresh-only", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        serial(&project, &env) > serial_before,
        "refresh-only wrote state"
    );
    let (r, report) = drift_json(&project, &env, &[]);
    assert_eq!(r.code, 0, "accepted drift is no drift\n{}", r.all());
    assert_eq!(report["counts"]["changed"], 0, "{report:#}");
    let pending: Vec<&str> = report["pending"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["address"].as_str())
        .collect();
    assert!(pending.contains(&"aws_instance.runner"), "{report:#}");

    let r = project.run(&["destroy", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// A minimal XML tree, to check the JUnit report's structure.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn all(&self, name: &str) -> Vec<&Node> {
        self.children.iter().filter(|c| c.name == name).collect()
    }
}

fn parse_xml(text: &str) -> Node {
    use quick_xml::events::{BytesStart, Event};
    fn start(e: &BytesStart) -> Node {
        let mut n = Node {
            name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
            ..Default::default()
        };
        for a in e.attributes() {
            let a = a.expect("well-formed attribute");
            n.attrs.insert(
                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                a.unescape_value().expect("attribute value").into_owned(),
            );
        }
        n
    }
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack = vec![Node::default()];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(start(&e)),
            Event::Empty(e) => {
                let n = start(&e);
                stack.last_mut().unwrap().children.push(n);
            }
            Event::End(_) => {
                let n = stack.pop().unwrap();
                stack.last_mut().expect("balanced").children.push(n);
            }
            Event::Text(t) => stack
                .last_mut()
                .unwrap()
                .text
                .push_str(&t.unescape().expect("text")),
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut doc = stack.pop().unwrap();
    assert_eq!(doc.children.len(), 1, "one root element");
    doc.children.pop().unwrap()
}

fn check_junit(text: &str, env: &str, changed: &BTreeMap<String, &Value>) {
    let root = parse_xml(text);
    assert_eq!(root.name, "testsuites", "{text}");
    let suites = root.all("testsuite");
    assert_eq!(suites.len(), 1, "{text}");
    let suite = suites[0];
    assert_eq!(suite.attrs["name"], env);
    let cases = suite.all("testcase");
    assert_eq!(
        suite.attrs["tests"].parse::<usize>().unwrap(),
        cases.len(),
        "tests= counts the testcase elements\n{text}"
    );
    assert_eq!(root.attrs["tests"], suite.attrs["tests"], "{text}");
    let failed: Vec<&Node> = cases
        .iter()
        .copied()
        .filter(|c| !c.all("failure").is_empty())
        .collect();
    assert_eq!(
        suite.attrs["failures"].parse::<usize>().unwrap(),
        failed.len(),
        "{text}"
    );
    assert_eq!(root.attrs["failures"], suite.attrs["failures"], "{text}");
    let mut names: Vec<&str> = failed.iter().map(|c| c.attrs["name"].as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        changed.keys().map(String::as_str).collect::<Vec<_>>(),
        "one failing testcase per drifted resource\n{text}"
    );
    for c in &failed {
        assert_eq!(c.attrs["classname"], env);
        let f = c.all("failure");
        assert_eq!(f.len(), 1, "{text}");
        assert_eq!(f[0].attrs["type"], "changed");
        assert!(f[0].attrs["message"].contains(&c.attrs["name"]), "{text}");
        assert!(f[0].text.contains("--refresh-only"), "remediation: {text}");
    }
    let tag = failed
        .iter()
        .find(|c| c.attrs["name"] == "aws_vpc.main")
        .unwrap();
    assert!(
        tag.all("failure")[0].text.contains("someone-else"),
        "the failure carries the attribute diff\n{text}"
    );
    // The in-sync resources pass.
    assert!(
        cases.iter().any(|c| c.all("failure").is_empty()),
        "in-sync resources are passing testcases\n{text}"
    );
}

fn check_sarif(text: &str, changed: &BTreeMap<String, &Value>) {
    let schema: Value = serde_json::from_str(include_str!("fixtures/sarif-schema-2.1.0.json"))
        .expect("schema parses");
    let doc: Value = serde_json::from_str(text).expect("SARIF is JSON");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF schema errors: {errors:#?}\n{text}"
    );
    assert_eq!(doc["version"], "2.1.0");
    let results = doc["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), changed.len(), "{text}");
    for res in results {
        assert_eq!(res["ruleId"], "terrace/drift/changed", "{text}");
        let addr = res["properties"]["address"].as_str().unwrap();
        assert!(changed.contains_key(addr), "{addr}");
        // Each result points at the resource block in the environment.
        let uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap_or_else(|| panic!("{addr} has a location\n{text}"));
        assert!(
            uri.ends_with("main.tf") && !uri.starts_with('/'),
            "relative to the project: {uri}"
        );
        assert!(
            res["locations"][0]["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .is_some_and(|l| l > 1),
            "{text}"
        );
    }
    // The validator is not vacuous: a broken document fails it.
    let mut broken = doc.clone();
    broken["version"] = Value::from("2.0.0");
    assert!(!validator.is_valid(&broken));
}

// ---- missing and unmanaged -------------------------------------------------

/// Objects deleted outside terrace are `missing`; an instance created by hand
/// with the environment's ownership tag is `unmanaged`.
#[tokio::test(flavor = "multi_thread")]
async fn deleted_and_hand_made_objects_are_missing_and_unmanaged() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let project = Project::new().with_moto(moto);
    let env = format!("dm{}", suffix());
    project.write_env(
        &env,
        &[(
            "main.tf",
            &format!(
                r#"
resource "aws_instance" "runner" {{
  ami           = "{AMI}"
  instance_type = "t3.micro"
}}

resource "aws_instance" "keep" {{
  ami           = "{AMI}"
  instance_type = "t3.micro"
}}

resource "aws_ecr_repository" "images" {{
  name = "drift-${{terrace.environment}}-images"
}}
"#
            ),
        )],
    );
    apply(&project, &env);
    let (r, _) = drift_json(&project, &env, &[]);
    assert_eq!(r.code, 0, "{}", r.all());

    let cfg = sdk_config(moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&cfg);
    let ecr = aws_sdk_ecr::Client::new(&cfg);
    let runner = instance_id(&ec2, &env, "aws_instance.runner").await;
    ec2.terminate_instances()
        .instance_ids(&runner)
        .send()
        .await
        .unwrap();
    wait_instance_state(&ec2, &runner, "terminated").await;
    ecr.delete_repository()
        .repository_name(format!("drift-{env}-images"))
        .force(true)
        .send()
        .await
        .unwrap();
    let made = ec2
        .run_instances()
        .image_id(AMI)
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(
                    Tag::builder()
                        .key("terrace:environment")
                        .value(&env)
                        .build(),
                )
                .tags(Tag::builder().key("Name").value("by-hand").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let by_hand = made.instances()[0].instance_id().unwrap().to_string();

    let serial_before = serial(&project, &env);
    let (r, report) = drift_json(&project, &env, &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    let missing = items(&report, "missing");
    assert_eq!(
        missing.keys().cloned().collect::<Vec<_>>(),
        ["aws_ecr_repository.images", "aws_instance.runner"],
        "{report:#}"
    );
    assert_eq!(missing["aws_instance.runner"]["id"], runner.as_str());
    let unmanaged: Vec<&Value> = items(&report, "unmanaged").into_values().collect();
    assert_eq!(unmanaged.len(), 1, "{report:#}");
    assert_eq!(unmanaged[0]["type"], "aws_instance");
    assert_eq!(unmanaged[0]["id"], by_hand.as_str());
    assert!(items(&report, "changed").is_empty(), "{report:#}");
    assert_eq!(report["counts"]["missing"], 2);
    assert_eq!(report["counts"]["unmanaged"], 1);
    assert_eq!(
        report["counts"]["in_sync"], 1,
        "aws_instance.keep\n{report:#}"
    );

    // The text report names the categories and objects.
    let r = project.run(&["drift", "-e", &env]);
    assert_eq!(r.code, 2, "{}", r.all());
    for needle in [
        "missing (2)",
        "unmanaged (1)",
        "aws_instance.runner",
        by_hand.as_str(),
    ] {
        assert!(r.stdout.contains(needle), "{needle}\n{}", r.all());
    }
    assert_eq!(serial(&project, &env), serial_before, "drift wrote state");

    // Remove the hand-made instance and forget the deleted objects: in sync.
    ec2.terminate_instances()
        .instance_ids(&by_hand)
        .send()
        .await
        .unwrap();
    wait_instance_state(&ec2, &by_hand, "terminated").await;
    let r = project.run(&["apply", "-e", &env, "--refresh-only", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let (r, report) = drift_json(&project, &env, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(report["counts"]["missing"], 0, "{report:#}");
    // The config still wants them: that is pending, not drift.
    assert_eq!(report["counts"]["pending"], 2, "{report:#}");

    let r = project.run(&["destroy", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

// ---- pending and locks -----------------------------------------------------

/// A config change not yet applied is pending: exit 0, or 2 with
/// `--fail-on pending`. Drift runs while another process holds the lock.
#[tokio::test(flavor = "multi_thread")]
async fn pending_changes_are_not_drift_and_the_lock_is_not_needed() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let project = Project::new().with_moto(moto);
    let env = format!("dp{}", suffix());
    let config = |team: &str| {
        format!(
            r#"
resource "aws_ecr_repository" "images" {{
  name = "drift-${{terrace.environment}}-images"
  tags = {{ Team = "{team}" }}
}}
"#
        )
    };
    project.write_env(&env, &[("main.tf", &config("a"))]);
    apply(&project, &env);
    let serial_before = serial(&project, &env);

    // Another process holds the environment's lock.
    let store = terrace_state::open_store(
        "sqlite:state/terrace.db",
        project.path(),
        terrace_state::StoreOptions::default(),
    )
    .await
    .expect("open the project's store");
    let held = terrace_state::lock_environment(store, &env, "test holder", Duration::ZERO)
        .await
        .expect("take the lock");
    // The lock is real: apply cannot take it.
    let r = project.run(&["apply", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 1, "apply must fail while locked\n{}", r.all());

    project.write_env(&env, &[("main.tf", &config("b"))]);
    let (r, report) = drift_json(&project, &env, &[]);
    assert_eq!(r.code, 0, "pending alone is not drift\n{}", r.all());
    assert!(report["drift"].as_array().unwrap().is_empty(), "{report:#}");
    assert_eq!(report["counts"]["pending"], 1, "{report:#}");
    assert_eq!(report["pending"][0]["address"], "aws_ecr_repository.images");
    assert_eq!(report["pending"][0]["actions"][0], "update", "{report:#}");

    let (r, _) = drift_json(&project, &env, &["--fail-on", "pending"]);
    assert_eq!(r.code, 2, "--fail-on pending\n{}", r.all());
    let r = project.run(&["drift", "-e", &env]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("pending config changes"), "{}", r.all());

    held.release().await.expect("release");
    assert_eq!(serial(&project, &env), serial_before, "drift wrote state");

    // Applying the config clears the pending change.
    apply(&project, &env);
    let (r, report) = drift_json(&project, &env, &["--fail-on", "pending"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(report["counts"]["pending"], 0, "{report:#}");

    let r = project.run(&["destroy", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

// ---- .terraceignore --------------------------------------------------------

/// `.terraceignore` skips a whole resource type and one attribute path, and
/// nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn terraceignore_skips_an_attribute_path_and_a_type() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let project = Project::new().with_moto(moto);
    let env = format!("di{}", suffix());
    project.write_env(
        &env,
        &[
            (
                "main.tf",
                &format!(
                    r#"
resource "aws_security_group" "runner" {{
  name = "drift-${{terrace.environment}}-runner"

  ingress {{
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }}
}}

resource "aws_instance" "web" {{
  ami           = "{AMI}"
  instance_type = "t3.micro"
  tags          = {{ Name = "web" }}
}}
"#
                ),
            ),
            (
                ".terraceignore",
                "aws_security_group   # rules are managed by the security team\n\
                 aws_instance.*.tags.LastScanned   # written by the scanner\n",
            ),
        ],
    );
    apply(&project, &env);

    let cfg = sdk_config(moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&cfg);
    let sg = ec2
        .describe_security_groups()
        .filters(filter("group-name", &format!("drift-{env}-runner")))
        .send()
        .await
        .unwrap();
    let sg_id = sg.security_groups()[0].group_id().unwrap().to_string();
    ec2.authorize_security_group_ingress()
        .group_id(&sg_id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(8080)
                .to_port(8080)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let web = instance_id(&ec2, &env, "aws_instance.web").await;
    ec2.create_tags()
        .resources(&web)
        .tags(
            Tag::builder()
                .key("LastScanned")
                .value("2024-01-01")
                .build(),
        )
        .send()
        .await
        .unwrap();

    let (r, report) = drift_json(&project, &env, &[]);
    assert_eq!(r.code, 0, "ignored changes are not drift\n{}", r.all());
    assert!(report["drift"].as_array().unwrap().is_empty(), "{report:#}");
    assert_eq!(
        report["ignored"],
        serde_json::json!(["aws_security_group.runner"])
    );

    // A change the rules do not cover is still drift, and only it is shown.
    ec2.create_tags()
        .resources(&web)
        .tags(Tag::builder().key("Name").value("renamed").build())
        .send()
        .await
        .unwrap();
    let (r, report) = drift_json(&project, &env, &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    let changed = items(&report, "changed");
    assert_eq!(
        changed.keys().cloned().collect::<Vec<_>>(),
        ["aws_instance.web"],
        "{report:#}"
    );
    let p = paths(changed["aws_instance.web"]);
    assert!(p.contains(&"tags.Name".to_string()), "{p:?}");
    assert!(
        !p.iter().any(|x| x.contains("LastScanned")),
        "the ignored tag stays hidden: {p:?}"
    );

    let r = project.run(&["destroy", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

// ---- batching --------------------------------------------------------------

/// Drift of 50 instances reads them in a bounded number of calls.
#[tokio::test(flavor = "multi_thread")]
async fn drift_reads_many_instances_in_few_calls() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let project = Project::new().with_moto(moto);
    let env = format!("ds{}", suffix());
    project.write_env(
        &env,
        &[(
            "main.tf",
            &format!(
                r#"
resource "aws_instance" "pool" {{
  count         = 50
  ami           = "{AMI}"
  instance_type = "t3.micro"
  tags          = {{ Name = "pool-${{count.index}}" }}
}}
"#
            ),
        )],
    );
    apply(&project, &env);

    let (r, report) = drift_json(&project, &env, &["--stats"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(report["counts"]["in_sync"], 50, "{report:#}");
    assert!(r.stderr.contains("API calls:"), "{}", r.all());
    let calls: BTreeMap<String, u64> =
        serde_json::from_value(report["api_calls"].clone()).expect("api_calls map");
    let describe = calls.get("ec2:DescribeInstances").copied().unwrap_or(0);
    assert!(
        (1..=2).contains(&describe),
        "DescribeInstances: {describe} ({calls:?})"
    );
    let total: u64 = calls.values().sum();
    assert!(
        total <= 8,
        "a bounded number of calls for 50 instances: {calls:?}"
    );
    // --stats prints the same numbers.
    assert!(
        r.stderr.lines().any(|l| l.contains("ec2:DescribeInstances")
            && l.trim_end().ends_with(&describe.to_string())),
        "{}",
        r.all()
    );

    let r = project.run(&["destroy", "-e", &env, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
}
