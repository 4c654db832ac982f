//! Plan files without secrets in clear (issue 19 §3), against moto with
//! SQLite state: a planted secret — a sensitive variable that sets an
//! `aws_ssm_parameter` SecureString and a sensitive output — is in no byte
//! of the plan file (nor its base64 or hex), with and without a state key;
//! `apply FILE` still sets it (read back with the SDK); a secret that
//! changed between plan and apply refuses the apply, naming the variable or
//! attribute and never the value.

use crate::support::*;
use base64::Engine as _;

fn config(env: &str) -> String {
    format!(
        r#"
variable "db_password" {{
  type      = string
  sensitive = true
}}

resource "aws_ssm_parameter" "db" {{
  name  = "/{env}/db-password"
  type  = "SecureString"
  value = var.db_password
}}

resource "aws_ssm_parameter" "api" {{
  name  = "/{env}/api-token"
  type  = "SecureString"
  value = trimspace(file("${{path.module}}/api-token.txt"))
}}

output "password" {{
  value     = var.db_password
  sensitive = true
}}
"#
    )
}

/// Random enough that a match cannot be a coincidence.
fn secret(what: &str) -> String {
    format!("{what}-{}", uuid::Uuid::new_v4().simple())
}

/// Every way the secret could sit in the file: as is, JSON-escaped
/// (the same here), hex, and base64 (standard and URL-safe) at each of the
/// three byte alignments it could have inside a larger encoded blob.
fn assert_absent(bytes: &[u8], secret: &str, what: &str) {
    let text = String::from_utf8_lossy(bytes);
    let mut needles = vec![secret.to_string(), hex::encode(secret)];
    for engine in [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for pad in 0..3usize {
            let mut data = vec![0u8; pad];
            data.extend_from_slice(secret.as_bytes());
            let enc = engine.encode(&data);
            // Characters wholly from the secret: skip those that mix in
            // the padding bytes and the last one (it may be partial).
            let start = (8 * pad).div_ceil(6);
            needles.push(enc[start..enc.len() - 1].to_string());
        }
    }
    for n in needles {
        assert!(
            !text.contains(&n),
            "{what}: the plan file holds the secret (as {n:?}):\n{text}"
        );
    }
}

async fn ssm_value(moto: &terrace_testkit::Moto, name: &str) -> Option<String> {
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(moto).await);
    ssm.get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .ok()
        .and_then(|o| o.parameter)
        .and_then(|p| p.value)
}

struct Setup {
    project: Project,
    env: String,
    password: String,
    token: String,
}

fn setup(moto: &'static terrace_testkit::Moto, prefix: &str) -> Setup {
    let env = format!("{prefix}{}", suffix());
    let project = Project::new().with_moto(moto);
    let token = secret("api");
    project.write_env(
        &env,
        &[("main.tf", &config(&env)), ("api-token.txt", &token)],
    );
    Setup {
        project,
        env,
        password: secret("pw"),
        token,
    }
}

impl Setup {
    fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let r = self.project.run_env(args, extra);
        for s in [&self.password, &self.token] {
            assert!(
                !r.all().contains(s.as_str()),
                "terrace printed a secret:\n{}",
                r.all()
            );
        }
        r
    }

    fn plan_out(&self, file: &str, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut env = vec![("TF_VAR_db_password", self.password.as_str())];
        env.extend_from_slice(extra);
        let r = self.run(&["plan", "-e", &self.env, "--out", file], &env);
        assert_eq!(r.code, 0, "{}", r.all());
        let bytes = std::fs::read(self.project.path().join(file)).unwrap();
        assert_absent(&bytes, &self.password, "sensitive variable");
        assert_absent(&bytes, &self.token, "provider-sensitive attribute");
        bytes
    }

    /// `show` and `show -json` still work, hiding the values.
    fn check_show(&self, file: &str) {
        let r = self.run(&["show", file], &[]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(r.stdout.contains("(sensitive value)"), "{}", r.all());
        assert!(r.stdout.contains("aws_ssm_parameter.db"), "{}", r.all());
        let r = self.run(&["show", "-json", file], &[]);
        assert_eq!(r.code, 0, "{}", r.all());
        let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("plan JSON");
        let change = doc["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == "aws_ssm_parameter.db")
            .expect("the parameter's change");
        assert!(change["change"]["after"]["value"].is_null(), "{change}");
        assert_eq!(
            change["change"]["after_sensitive"]["value"],
            serde_json::json!(true),
            "{change}"
        );
        assert_eq!(
            doc["output_changes"]["password"]["after_sensitive"],
            serde_json::json!(true),
            "{doc}"
        );
    }

    fn destroy(&self, extra: &[(&str, &str)]) {
        let mut env = vec![("TF_VAR_db_password", self.password.as_str())];
        env.extend_from_slice(extra);
        let r = self.run(&["destroy", "-e", &self.env, "-auto-approve"], &env);
        assert_eq!(r.code, 0, "{}", r.all());
    }
}

/// Without a state key the values are left out: apply evaluates them again
/// (the variable from TF_VAR_, the file-read attribute by planning again)
/// and sets them.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_key_secrets_are_left_out_and_apply_sets_them() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let s = setup(moto, "pfomit");
    let bytes = s.plan_out("tfplan", &[]);
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["secrets"]["mode"], "omitted", "{doc}");
    assert!(doc["secrets"]["count"].as_u64().unwrap() >= 3, "{doc}");
    s.check_show("tfplan");

    // A sensitive variable not given again: refused, saying how to fix it.
    let r = s.run(&["apply", "-input=false", "tfplan"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("variable \"db_password\"") && r.stderr.contains("TF_VAR_db_password"),
        "{}",
        r.all()
    );
    assert_eq!(
        ssm_value(moto, &format!("/{}/db-password", s.env)).await,
        None,
        "nothing was created"
    );

    let r = s.run(
        &["apply", "-input=false", "tfplan"],
        &[("TF_VAR_db_password", &s.password)],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        ssm_value(moto, &format!("/{}/db-password", s.env))
            .await
            .as_deref(),
        Some(s.password.as_str())
    );
    assert_eq!(
        ssm_value(moto, &format!("/{}/api-token", s.env))
            .await
            .as_deref(),
        Some(s.token.as_str())
    );
    let r = s.project.run(&["output", "-e", &s.env, "-raw", "password"]);
    assert_eq!(r.stdout, s.password, "{}", r.all());
    s.destroy(&[]);
}

/// With a state key the values are sealed in the file: apply needs the key
/// (and not the variable again); without it the apply is refused.
#[tokio::test(flavor = "multi_thread")]
async fn with_a_key_secrets_are_encrypted_in_the_file() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let s = setup(moto, "pfkey");
    let key = [("TERRACE_STATE_KEY", "correct horse battery staple")];
    let bytes = s.plan_out("tfplan", &key);
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["secrets"]["mode"], "encrypted", "{doc}");
    assert!(doc["secrets"]["sealed"]["ciphertext"].is_string(), "{doc}");
    assert!(doc["secrets"].get("hmac_key_blob").is_none(), "{doc}");
    s.check_show("tfplan");

    let r = s.run(&["apply", "-input=false", "tfplan"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("encrypted with the state key") && r.stderr.contains("TERRACE_STATE_KEY"),
        "{}",
        r.all()
    );
    let r = s.run(
        &["apply", "-input=false", "tfplan"],
        &[("TERRACE_STATE_KEY", "another passphrase")],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("different key"), "{}", r.all());

    // The variable is not given again: the file's sealed value is used.
    let r = s.run(&["apply", "-input=false", "tfplan"], &key);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        ssm_value(moto, &format!("/{}/db-password", s.env))
            .await
            .as_deref(),
        Some(s.password.as_str())
    );
    s.destroy(&key);
}

/// A secret changed between plan and apply refuses the apply and names
/// what changed: a sensitive variable given another value, and an
/// attribute whose source (a file outside the configuration hash) changed.
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_secret_refuses_the_apply() {
    let Some(moto) = terrace_testkit::shared_moto() else {
        return;
    };
    let s = setup(moto, "pfchg");
    s.plan_out("tfplan", &[]);
    let other = secret("other");
    let r = s.run(
        &["apply", "-input=false", "tfplan"],
        &[("TF_VAR_db_password", &other)],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(!r.all().contains(&other), "{}", r.all());
    assert!(
        r.stderr
            .contains("variable \"db_password\" differs from the value the plan was made with"),
        "{}",
        r.all()
    );

    let new_token = secret("rotated");
    std::fs::write(
        s.project
            .path()
            .join("environments")
            .join(&s.env)
            .join("api-token.txt"),
        &new_token,
    )
    .unwrap();
    let r = s.run(
        &["apply", "-input=false", "tfplan"],
        &[("TF_VAR_db_password", &s.password)],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(!r.all().contains(&new_token), "{}", r.all());
    assert!(
        r.stderr
            .contains("aws_ssm_parameter.api: attribute value (planned value)"),
        "{}",
        r.all()
    );
    assert!(
        !r.stderr.contains("aws_ssm_parameter.db:"),
        "only what changed is named: {}",
        r.all()
    );
    for name in ["db-password", "api-token"] {
        assert_eq!(
            ssm_value(moto, &format!("/{}/{name}", s.env)).await,
            None,
            "nothing was created"
        );
    }
}
