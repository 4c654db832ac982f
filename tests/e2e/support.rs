//! Helpers: temporary projects, running the binary, AWS SDK clients on moto.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use terrace_testkit::Moto;

/// A temporary terrace project (terrace.hcl + environments/), removed on drop.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
}

impl Project {
    /// A project whose state lives in SQLite under its own folder.
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("terrace.hcl"),
            "environments_dir = \"environments\"\nstate {\n  url = \"sqlite:state/terrace.db\"\n}\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        Project {
            dir,
            env: vec![("NO_COLOR".into(), "1".into())],
        }
    }

    /// Point the binary at a moto server.
    pub fn with_moto(mut self, moto: &Moto) -> Project {
        self.env.extend(moto.aws_env());
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `files` (name → text) into environments/<env>/.
    pub fn write_env(&self, env: &str, files: &[(&str, &str)]) -> PathBuf {
        let d = self.path().join("environments").join(env);
        std::fs::create_dir_all(&d).unwrap();
        for (name, text) in files {
            let p = d.join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(p, text).unwrap();
        }
        d
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// The binary in this project, not yet started (stdin null unless changed).
    pub fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_terrace"));
        cmd.current_dir(self.path()).args(args).stdin(Stdio::null());
        cmd.env_remove("TERRACE_STATE")
            .env_remove("TERRACE_STATE_KEY")
            .env_remove("TERRACE_STATE_KEY_FILE")
            .env_remove("AWS_PROFILE");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// Start `args` with answers read from a pipe (`TERRACE_PROMPT_STDIN`)
    /// and wait until it asks for confirmation; returns the running child
    /// (its stdin kept open) and its stderr.
    pub fn at_prompt(
        &self,
        args: &[&str],
        extra: &[(&str, &str)],
    ) -> (
        std::process::Child,
        std::process::ChildStdin,
        std::process::ChildStderr,
    ) {
        let mut extra = extra.to_vec();
        extra.push(("TERRACE_PROMPT_STDIN", "1"));
        let mut child = self
            .command(args, &extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn terrace");
        let stdin = child.stdin.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        wait_for_prompt(&mut stderr);
        (child, stdin, stderr)
    }

    pub fn run_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args, extra);
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().expect("run terrace");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

/// Read `stderr` until the confirmation prompt appears (at most a minute);
/// returns what was read.
fn wait_for_prompt(stderr: &mut impl std::io::Read) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !String::from_utf8_lossy(&seen).contains("Enter a value:") {
        assert!(
            std::time::Instant::now() < deadline,
            "no prompt: {}",
            String::from_utf8_lossy(&seen)
        );
        let n = stderr.read(&mut buf).expect("read stderr");
        assert!(
            n > 0,
            "terrace ended before the prompt: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// An SDK config for the moto endpoint.
pub async fn sdk_config(moto: &Moto) -> aws_config::SdkConfig {
    let creds =
        aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "terrace-tests");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(creds)
        .load()
        .await
}

/// A short suffix for unique names (environments, S3 buckets): distinct for
/// every call in this process (a counter) and, with high probability,
/// across processes (time and pid mixed in). It used to be the leading
/// eight hex digits of the time in nanoseconds, which change only every
/// half second: two tests starting together shared an environment name,
/// and one test's outage hit the other's apply.
pub fn suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let c = COUNTER.fetch_add(1, Ordering::SeqCst);
    let mixed = n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (u64::from(std::process::id()) << 40)
        ^ c.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    format!("{:08x}", (mixed >> 24) as u32 ^ c as u32)
}

/// IDs of live EC2 resources tagged with the environment's ownership tag.
/// (moto keeps tags of deleted objects, so each one is checked to exist.)
pub async fn owned_ec2_ids(ec2: &aws_sdk_ec2::Client, env: &str) -> Vec<String> {
    use aws_sdk_ec2::types::Filter;
    let f = |name: &str, value: &str| Filter::builder().name(name).values(value).build();
    let out = ec2
        .describe_tags()
        .filters(f("key", "terrace:environment"))
        .filters(f("value", env))
        .send()
        .await
        .expect("describe tags");
    let mut live = Vec::new();
    for id in out.tags().iter().filter_map(|t| t.resource_id()) {
        let exists = if id.starts_with("i-") {
            let d = ec2
                .describe_instances()
                .filters(f("instance-id", id))
                .send()
                .await
                .expect("describe instances");
            d.reservations()
                .iter()
                .flat_map(|r| r.instances())
                .any(|i| {
                    i.state()
                        .and_then(|s| s.name())
                        .is_none_or(|n| n.as_str() != "terminated")
                })
        } else if id.starts_with("vpc-") {
            !ec2.describe_vpcs()
                .filters(f("vpc-id", id))
                .send()
                .await
                .expect("vpcs")
                .vpcs()
                .is_empty()
        } else if id.starts_with("subnet-") {
            !ec2.describe_subnets()
                .filters(f("subnet-id", id))
                .send()
                .await
                .expect("subnets")
                .subnets()
                .is_empty()
        } else if id.starts_with("sg-") {
            !ec2.describe_security_groups()
                .filters(f("group-id", id))
                .send()
                .await
                .expect("sgs")
                .security_groups()
                .is_empty()
        } else if id.starts_with("igw-") {
            !ec2.describe_internet_gateways()
                .filters(f("internet-gateway-id", id))
                .send()
                .await
                .expect("igws")
                .internet_gateways()
                .is_empty()
        } else if id.starts_with("rtb-") {
            !ec2.describe_route_tables()
                .filters(f("route-table-id", id))
                .send()
                .await
                .expect("rtbs")
                .route_tables()
                .is_empty()
        } else if id.starts_with("nat-") {
            // Deleted NAT gateways stay listed for a while, as `deleted`.
            ec2.describe_nat_gateways()
                .filter(f("nat-gateway-id", id))
                .send()
                .await
                .expect("nat gateways")
                .nat_gateways()
                .iter()
                .any(|g| g.state().is_none_or(|s| s.as_str() != "deleted"))
        } else if id.starts_with("eipalloc-") {
            !ec2.describe_addresses()
                .filters(f("allocation-id", id))
                .send()
                .await
                .expect("addresses")
                .addresses()
                .is_empty()
        } else if id.starts_with("vpce-") {
            // Deleted endpoints may stay listed for a while, as `deleted`;
            // asking for one that is gone may be an error (gone, too).
            ec2.describe_vpc_endpoints()
                .vpc_endpoint_ids(id)
                .send()
                .await
                .is_ok_and(|d| {
                    d.vpc_endpoints().iter().any(|e| {
                        e.state()
                            .is_none_or(|s| !s.as_str().eq_ignore_ascii_case("deleted"))
                    })
                })
        } else if id.starts_with("acl-") {
            // moto keeps a deleted VPC's default ACL: live only with its VPC.
            let vpc = ec2
                .describe_network_acls()
                .network_acl_ids(id)
                .send()
                .await
                .ok()
                .and_then(|d| {
                    d.network_acls()
                        .first()
                        .and_then(|a| a.vpc_id().map(String::from))
                });
            match vpc {
                Some(vpc) => ec2
                    .describe_vpcs()
                    .vpc_ids(vpc)
                    .send()
                    .await
                    .is_ok_and(|d| !d.vpcs().is_empty()),
                None => false,
            }
        } else if id.starts_with("fl-") {
            !ec2.describe_flow_logs()
                .filter(f("flow-log-id", id))
                .send()
                .await
                .expect("flow logs")
                .flow_logs()
                .is_empty()
        } else if id.starts_with("key-") {
            !ec2.describe_key_pairs()
                .filters(f("key-pair-id", id))
                .send()
                .await
                .expect("key pairs")
                .key_pairs()
                .is_empty()
        } else if id.starts_with("lt-") {
            // Asking for a deleted template by id is an error: that means gone.
            ec2.describe_launch_templates()
                .launch_template_ids(id)
                .send()
                .await
                .is_ok_and(|d| !d.launch_templates().is_empty())
        } else {
            true
        };
        if exists {
            live.push(id.to_string());
        }
    }
    live.sort();
    live.dedup();
    live
}

/// Copy the directory tree `from` to `to` (the repository's modules,
/// environments, policies or a fixture into a test project).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
