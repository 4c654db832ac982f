//! Terraform users' habits carry over: single-dash flags, TF_CLI_ARGS,
//! TF_IN_AUTOMATION, TF_LOG, -input=false.

use crate::support::Project;

const CONFIG: &str = r#"
variable "name" {
  type = string
}

resource "terraform_data" "a" {
  input = "hello-${var.name}"
}

output "a" {
  value = terraform_data.a.output
}
"#;

#[test]
fn single_dash_flags_plan_apply_saved_plan_destroy() {
    let project = Project::new();
    project.write_env("dev", &[("main.tf", CONFIG)]);
    std::fs::write(project.path().join("prod.tfvars"), "name = \"prod\"\n").unwrap();

    let r = project.run(&[
        "plan",
        "-e",
        "dev",
        "-var-file=prod.tfvars",
        "-input=false",
        "-no-color",
        "-lock=false",
        "-lock-timeout=5s",
        "-parallelism=2",
        "-compact-warnings",
        "-refresh=false",
        "-out=tfplan",
        "-detailed-exitcode",
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("hello-prod"), "{}", r.all());
    assert!(project.path().join("tfplan").exists());
    assert!(
        r.stdout.contains("To perform exactly these actions"),
        "{}",
        r.all()
    );

    let r = project.run(&["apply", "-input=false", "-auto-approve", "tfplan"]);
    assert_eq!(r.code, 0, "{}", r.all());

    let r = project.run(&[
        "plan",
        "-e",
        "dev",
        "-var",
        "name=prod",
        "-input=false",
        "-detailed-exitcode",
    ]);
    assert_eq!(r.code, 0, "re-plan must be empty\n{}", r.all());

    let r = project.run(&["output", "-e", "dev", "-json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("hello-prod"), "{}", r.all());

    let r = project.run(&[
        "destroy",
        "-e",
        "dev",
        "-var=name=prod",
        "-auto-approve",
        "-input=false",
        "-lock=false",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("-lock=false is ignored"), "{}", r.all());
    assert!(r.stdout.contains("1 destroyed"), "{}", r.all());
}

#[test]
fn input_false_refuses_to_ask_for_confirmation() {
    let project = Project::new();
    project.write_env("dev", &[("main.tf", CONFIG)]);
    let r = project.run(&["apply", "-e", "dev", "-var", "name=x", "-input=false"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("-input=false forbids asking; pass -auto-approve"),
        "{}",
        r.all()
    );
    // Nothing was applied.
    let r = project.run(&["state", "list", "-e", "dev"]);
    assert!(!r.stdout.contains("terraform_data.a"), "{}", r.all());
}

#[test]
fn unknown_single_dash_flag_is_rejected_by_name() {
    let project = Project::new();
    project.write_env("dev", &[("main.tf", CONFIG)]);
    let r = project.run(&["plan", "-e", "dev", "-var", "name=x", "-frobnicate"]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("unexpected argument"), "{}", r.all());
}

#[test]
fn tf_cli_args_tf_in_automation_and_tf_log() {
    let project = Project::new();
    project.write_env("dev", &[("main.tf", CONFIG)]);
    std::fs::write(project.path().join("ci.tfvars"), "name = \"ci\"\n").unwrap();

    // TF_CLI_ARGS_plan supplies the var file; TF_IN_AUTOMATION drops the hint.
    let r = project.run_env(
        &["plan", "-e", "dev", "-out=tfplan"],
        &[
            ("TF_CLI_ARGS_plan", "-var-file=ci.tfvars -input=false"),
            ("TF_CLI_ARGS", "-no-color"),
            ("TF_IN_AUTOMATION", "1"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("hello-ci"), "{}", r.all());
    assert!(!r.stdout.contains("To perform exactly"), "{}", r.all());

    // TF_CLI_ARGS_apply does not reach plan.
    let r = project.run_env(
        &["plan", "-e", "dev"],
        &[("TF_CLI_ARGS_apply", "-var-file=ci.tfvars")],
    );
    assert_eq!(r.code, 1, "{}", r.all());

    // TF_LOG turns on logging like -v; a bad level is an error that says what is allowed.
    let r = project.run_env(
        &["plan", "-e", "dev", "-var", "name=x"],
        &[("TF_LOG", "DEBUG")],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("DEBUG"), "{}", r.all());
    let r = project.run(&["plan", "-e", "dev", "-var", "name=x"]);
    assert!(!r.stderr.contains("DEBUG"), "{}", r.all());
    let r = project.run_env(&["validate", "-e", "dev"], &[("TF_LOG", "LOUD")]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("TF_LOG=\"LOUD\" is not a log level"),
        "{}",
        r.all()
    );
    let r = project.run_env(&["plan", "-e", "dev"], &[("TF_CLI_ARGS", "-var 'name=a")]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("unbalanced quotes"), "{}", r.all());
}
