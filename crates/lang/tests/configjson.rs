//! Terraform's `configuration` section of the plan JSON, as
//! `configuration_json` renders it for a small configuration with `count`,
//! `for_each`, nested blocks, a module call (with a sensitive input) and
//! `var.`/`local.`/`module.`/resource references. Update the snapshot with
//! `INSTA_UPDATE=always cargo test --workspace --test configjson` and review
//! the diff in `tests/snapshots/`.

use terrace_core::ResourceMode;
use terrace_lang::{ConfigSchemas, SourceMap, configuration_json, load_config};

/// `aws_db_instance.password` and the provider's `secret_key` are
/// sensitive; schema version 1 for `aws_instance`, 0 otherwise.
struct Schemas;

impl ConfigSchemas for Schemas {
    fn is_sensitive(
        &self,
        _provider: &str,
        resource: Option<(ResourceMode, &str)>,
        path: &[&str],
    ) -> bool {
        match resource {
            None => path == ["secret_key"],
            Some((_, t)) => t == "aws_db_instance" && path == ["password"],
        }
    }
    fn schema_version(&self, _provider: &str, _mode: ResourceMode, type_name: &str) -> u64 {
        u64::from(type_name == "aws_instance")
    }
}

const ROOT: &str = r#"
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region     = var.region
  secret_key = "not-in-the-document"
}

provider "aws" {
  alias  = "west"
  region = "us-west-2"
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "db_password" {
  type      = string
  default   = "hunter2-default"
  sensitive = true
}

locals {
  name = "demo-${var.region}"
}

resource "aws_s3_bucket" "logs" {
  bucket = "${local.name}-logs"
  tags   = { Team = "platform" }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket            = aws_s3_bucket.logs.id
  block_public_acls = true
}

resource "aws_instance" "web" {
  count         = 2
  ami           = "ami-123"
  instance_type = "t3.micro"
  subnet_id     = module.net.subnet_ids[count.index]

  root_block_device {
    volume_size = 20
    encrypted   = true
  }

  depends_on = [aws_s3_bucket.logs]
}

resource "aws_eip" "web" {
  for_each = toset(["a", "b"])
  instance = aws_instance.web[0].id
  tags     = { Zone = each.key }
  provider = aws.west
}

resource "aws_db_instance" "main" {
  password = "literal-db-secret"
}

data "aws_ami" "base" {
  owners = ["self"]
}

module "net" {
  source     = "./net"
  cidr       = "10.0.0.0/16"
  name       = local.name
  secret     = "module-input-secret"
  depends_on = [aws_s3_bucket.logs]
}

output "bucket" {
  description = "The log bucket."
  value       = aws_s3_bucket.logs.bucket
}

output "db_password" {
  value     = "sensitive-output-constant"
  sensitive = true
}
"#;

const NET: &str = r#"
variable "cidr" {}
variable "name" {}
variable "secret" {
  sensitive = true
}

resource "aws_vpc" "this" {
  cidr_block = var.cidr
  tags       = { Name = var.name }
}

resource "aws_subnet" "this" {
  count      = 2
  vpc_id     = aws_vpc.this.id
  cidr_block = cidrsubnet(var.cidr, 8, count.index)
}

output "subnet_ids" {
  value = aws_subnet.this[*].id
}
"#;

fn render() -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("main.tf"), ROOT).unwrap();
    std::fs::create_dir_all(dir.path().join("net")).unwrap();
    std::fs::write(dir.path().join("net/main.tf"), NET).unwrap();
    let mut sources = SourceMap::new();
    let (config, diags) = load_config(dir.path(), &mut sources);
    assert!(!diags.has_errors(), "{diags:?}");
    configuration_json(&config.expect("config"), &Schemas)
}

#[test]
fn configuration_as_terraform_writes_it() {
    let doc = render();
    insta::assert_snapshot!(serde_json::to_string_pretty(&doc).unwrap());
}

#[test]
fn references_link_resources_the_way_checkov_reads_them() {
    let doc = render();
    let root = &doc["root_module"];
    let resource = |addr: &str| {
        root["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == addr)
            .unwrap_or_else(|| panic!("{addr} in {root:#}"))
            .clone()
    };
    assert_eq!(
        resource("aws_s3_bucket_public_access_block.logs")["expressions"]["bucket"],
        serde_json::json!({ "references": ["aws_s3_bucket.logs.id", "aws_s3_bucket.logs"] })
    );
    assert_eq!(
        resource("aws_eip.web")["expressions"]["instance"]["references"],
        serde_json::json!([
            "aws_instance.web[0].id",
            "aws_instance.web[0]",
            "aws_instance.web"
        ])
    );
    assert_eq!(resource("aws_eip.web")["provider_config_key"], "aws.west");
    assert_eq!(
        root["module_calls"]["net"]["module"]["resources"][1]["expressions"]["vpc_id"],
        serde_json::json!({ "references": ["aws_vpc.this.id", "aws_vpc.this"] })
    );
    // A module's resources use the provider they inherit from the root.
    assert_eq!(
        root["module_calls"]["net"]["module"]["resources"][0]["provider_config_key"],
        "aws"
    );
}

#[test]
fn no_sensitive_constant_reaches_the_document() {
    let text = render().to_string();
    for secret in [
        "not-in-the-document",
        "hunter2-default",
        "literal-db-secret",
        "module-input-secret",
        "sensitive-output-constant",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}
