//! Terraform's value semantics, data-driven: each case is an expression (or
//! a small configuration) and the result Terraform documents for it, with
//! the documentation page in a comment. One helper, [`check`], runs them
//! all: the expression becomes `output "x"`, the configuration is loaded,
//! its variables resolved and its outputs evaluated as a plan would.
//!
//! Expected results are written as terrace displays values (`"12"`,
//! `["1"]`, `2`); `error: TEXT` expects an error whose rendering contains
//! TEXT.

mod common;

use common::{run, write_files};
use terrace_lang::render_diagnostics;

/// Run a configuration (`-- path --` separated files, or a bare expression
/// that becomes `output "x"`) and compare output `x` (or the errors) with
/// `expected`.
fn check(input: &str, expected: &str) {
    let fixture = if input.trim_start().starts_with("-- ") {
        input.to_string()
    } else {
        format!("-- main.tf --\noutput \"x\" {{\n  value = {input}\n}}\n")
    };
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(dir.path(), &fixture);
    let r = run(dir.path());
    let got = if r.diags.has_errors() {
        format!("error: {}", render_diagnostics(&r.diags, &r.sources, false))
    } else {
        match r.outputs.get("x") {
            Some((v, _)) => v.to_string(),
            None => format!("no output x in {:?}", r.outputs.keys()),
        }
    };
    match expected.strip_prefix("error: ") {
        Some(text) => assert!(
            got.starts_with("error: ") && got.contains(text),
            "{input}\nexpected an error containing {text:?}\ngot: {got}"
        ),
        None => assert_eq!(got, expected, "{input}"),
    }
}

/// Item 11: both results of a conditional are converted to a common type.
#[test]
fn conditional_results_take_a_common_type() {
    // https://developer.hashicorp.com/terraform/language/expressions/conditionals
    // ("Result Types": `var.example ? 12 : "hello"` is the string "12").
    check(r#"true ? 12 : "hello""#, r#""12""#);
    check(r#"false ? 12 : "hello""#, r#""hello""#);
    check(r#"true ? true : "x""#, r#""true""#);
    check(r#"true ? [1] : ["a"]"#, r#"["1"]"#);
    check(r#"true ? { a = 1 } : { a = "b" }"#, r#"{a = "1"}"#);
    check(r#"true ? 1 : null"#, "1");
    check(r#"false ? 1 : null"#, "null");
    check(
        r#"true ? "a" : [1]"#,
        "error: Inconsistent conditional result types",
    );
    check(
        r#"false ? { a = 1 } : 3"#,
        "error: Inconsistent conditional result types",
    );
}

/// Item 13: strings are compared after Unicode NFC normalisation.
#[test]
fn strings_are_nfc_normalised() {
    // https://developer.hashicorp.com/terraform/language/expressions/strings
    // ("Terraform normalizes string values to Unicode NFC"); the same
    // normalisation applies to strings read from files and variables.
    check(r#""e\u0301" == "\u00e9""#, "true");
    check(r#""e\u0301" != "\u00e9""#, "false");
    check(r#"length("e\u0301")"#, "1");
    check(r#"contains(["\u00e9"], "e\u0301")"#, "true");
}

/// Item 15: only a collection's own sensitive mark carries to `length`.
#[test]
fn length_of_a_collection_with_sensitive_elements_is_not_sensitive() {
    // https://developer.hashicorp.com/terraform/language/functions/length and
    // https://developer.hashicorp.com/terraform/language/functions/sensitive:
    // marks belong to values; the number of elements is not an element.
    check(r#"length([sensitive("a"), "b"])"#, "2");
    check(r#"length({ a = sensitive("a") })"#, "1");
    check(
        r#"length(sensitive(["a", "b"]))"#,
        "error: Output refers to sensitive values",
    );
}

/// Item 12: `nullable` defaults to true.
#[test]
fn null_passed_to_a_module_variable_is_kept_unless_not_nullable() {
    // https://developer.hashicorp.com/terraform/language/values/variables#disallowing-null-input-values
    // ("The default value for nullable is true. When nullable is true, null
    // is a valid value for the variable … Setting nullable to false ensures
    // that the variable value will never be null … the default value will
    // be used" when the caller passes null).
    let module = r#"
-- mod/main.tf --
variable "v" {
  default = "d"
}
variable "strict" {
  default  = "d"
  nullable = false
}
output "v" {
  value = var.v == null ? "null" : var.v
}
output "strict" {
  value = var.strict == null ? "null" : var.strict
}
"#;
    let main = |args: &str, out: &str| {
        format!(
            "-- main.tf --\nmodule \"m\" {{\n  source = \"./mod\"\n{args}\n}}\noutput \"x\" {{\n  value = module.m.{out}\n}}\n{module}"
        )
    };
    check(&main("v = null", "v"), r#""null""#);
    check(&main("", "v"), r#""d""#);
    check(&main("strict = null", "strict"), r#""d""#);
    check(&main(r#"v = "given""#, "v"), r#""given""#);
    // Root variables follow the same rule (here from terraform.tfvars).
    let root = r#"
-- main.tf --
variable "v" {
  default = "d"
}
variable "strict" {
  default  = "d"
  nullable = false
}
output "x" {
  value = "${var.v == null ? "null" : var.v}/${var.strict}"
}
-- terraform.tfvars --
v      = null
strict = null
"#;
    check(root, r#""null/d""#);
}

/// Item 16: environment variables are the lowest source.
#[test]
fn environment_variables_are_below_every_variables_file() {
    // https://developer.hashicorp.com/terraform/language/values/variables#variable-definition-precedence
    // (environment variables, then terraform.tfvars, terraform.tfvars.json,
    // *.auto.tfvars in lexical order, then -var and -var-file in order).
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(
        dir.path(),
        r#"
-- main.tf --
variable "a" {
  default = "default"
}
variable "b" {
  default = "default"
}
variable "c" {
  default = "default"
}
-- terraform.tfvars --
a = "tfvars"
"#,
    );
    let mut sources = terrace_lang::SourceMap::new();
    let (config, diags) = terrace_lang::load_config(dir.path(), &mut sources);
    assert!(!diags.has_errors(), "{diags}");
    let config = config.expect("config");
    let env = |k: &str| match k {
        "TF_VAR_a" | "TF_VAR_b" | "TF_VAR_c" => Some("tf-env".to_string()),
        "TERRACE_VAR_a" | "TERRACE_VAR_b" => Some("terrace-env".to_string()),
        _ => None,
    };
    let inputs = terrace_lang::VarInputs::default();
    let (values, diags) =
        terrace_lang::resolve_root_variables(&config, dir.path(), &inputs, &env, &mut sources);
    assert!(!diags.has_errors(), "{diags}");
    let got: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| values[*n].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(got, ["tfvars", "terrace-env", "tf-env"]);
}

/// Item 17: the error messages Terraform gives.
#[test]
fn error_messages_match_terraform() {
    // https://developer.hashicorp.com/terraform/language/functions/templatefile
    // (every name in the template must be a key of the vars map; Terraform
    // reports `vars map does not contain key "ip_addrs"`).
    check(
        r#"
-- main.tf --
output "x" {
  value = templatefile("${path.module}/t.tftpl", { port = 8080 })
}
-- t.tftpl --
backend ${ip_addrs[0]}:${port}
"#,
        r#"error: vars map does not contain key "ip_addrs""#,
    );
    check(
        r#"
-- main.tf --
output "x" {
  value = templatefile("${path.module}/t.tftpl", { ip_addrs = ["10.0.0.1"], port = 8080 })
}
-- t.tftpl --
backend ${ip_addrs[0]}:${port}
"#,
        r#""backend 10.0.0.1:8080\n""#,
    );
    // https://developer.hashicorp.com/terraform/language/values/variables#variables-on-the-command-line
    // (-var values of primitive types are taken literally and converted;
    // "abc" for a number is "a number is required").
    let var = |ty: &str, given: &str| {
        format!(
            "-- main.tf --\nvariable \"n\" {{\n  type = {ty}\n}}\noutput \"x\" {{\n  value = var.n\n}}\n-- cli.vars --\nn={given}\n"
        )
    };
    check(&var("number", "abc"), "error: a number is required");
    check(&var("number", "42"), "42");
    check(&var("bool", "true"), "true");
    check(&var("list(number)", "[1, 2]"), "[1, 2]");
    // No second, false "No value for required variable" error.
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(dir.path(), &var("number", "abc"));
    let r = run(dir.path());
    let text = render_diagnostics(&r.diags, &r.sources, false);
    assert!(!text.contains("No value for required variable"), "{text}");
    assert!(!text.contains("resource"), "{text}");
    assert_eq!(r.diags.iter().filter(|d| d.is_error()).count(), 1, "{text}");
}

/// Item 10: numbers are arbitrary precision.
#[test]
fn numbers_are_arbitrary_precision() {
    // https://developer.hashicorp.com/terraform/language/expressions/types#number
    // ("a numeric value … Terraform's numbers are arbitrary-precision"):
    // integers keep every digit and decimal arithmetic is exact.
    check("9007199254740993", "9007199254740993");
    check("9007199254740993 + 0", "9007199254740993");
    check("0.1 + 0.2 == 0.3", "true");
    check("0.1 + 0.2", "0.3");
    check("12345678901234567890 * 10", "123456789012345678900");
    check("-9007199254740993", "-9007199254740993");
    check("7 / 2", "3.5");
    check("7 % 3", "1");
    check("1 / 0", "error: Division by zero");
    // https://developer.hashicorp.com/terraform/language/functions/jsondecode
    check(
        r#"jsondecode("{\"n\": 12345678901234567890}").n"#,
        "12345678901234567890",
    );
    check(
        r#"jsonencode(jsondecode("[12345678901234567890, 0.1]"))"#,
        r#""[12345678901234567890,0.1]""#,
    );
    // https://developer.hashicorp.com/terraform/language/functions/tonumber
    check(r#"tonumber("9007199254740993")"#, "9007199254740993");
    check(r#"tostring(9007199254740993)"#, r#""9007199254740993""#);
    // https://developer.hashicorp.com/terraform/language/functions/sum and max
    check("sum([0.1, 0.2])", "0.3");
    check(
        "max(9007199254740993, 9007199254740992)",
        "9007199254740993",
    );
    check(r#"parseint("9007199254740993", 10)"#, "9007199254740993");
    check("floor(-1.5)", "-2");
    check("ceil(1.2)", "2");
    check("pow(10, 20)", "100000000000000000000");
    check(r#""n=${9007199254740993}""#, r#""n=9007199254740993""#);
}
