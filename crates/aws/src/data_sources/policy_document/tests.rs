//! Table tests: configurations from the Terraform AWS provider's
//! documentation of `aws_iam_policy_document` and the JSON it renders for
//! them (written out by hand from the documented rules).

use super::*;

/// The evaluated configuration, written as JSON (sets as lists).
fn config(json: &str) -> Value {
    Value::from_json(&serde_json::from_str(json).expect("test config is JSON"))
}

/// `check(config, expected json)`: the pretty `json`, the `minified_json`
/// (the same document) and the `id` (CRC-32 of `json`).
fn check(cfg: &str, expected: &str) {
    let r = render(&config(cfg)).unwrap_or_else(|e| panic!("render failed: {e}"));
    assert_eq!(r.json, expected, "json of {cfg}");
    let reparsed: Json = serde_json::from_str(&r.minified_json).unwrap();
    assert_eq!(reparsed, serde_json::from_str::<Json>(expected).unwrap());
    assert!(!r.minified_json.contains('\n'));
    assert_eq!(r.id, crc32fast::hash(expected.as_bytes()).to_string());
}

fn check_error(cfg: &str, expected: &str) {
    match render(&config(cfg)) {
        Ok(r) => panic!("expected an error, got {}", r.json),
        Err(e) => assert!(
            e.to_string().contains(expected),
            "error {e} does not contain {expected}"
        ),
    }
}

#[test]
fn basic_example_sorts_lists_in_reverse_and_collapses_single_values() {
    check(
        r#"{"statement": [
            {"sid": "1", "actions": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"],
             "resources": ["arn:aws:s3:::*"]},
            {"actions": ["s3:ListBucket"], "resources": ["arn:aws:s3:::bkt"],
             "condition": [{"test": "StringLike", "variable": "s3:prefix",
                            "values": ["", "home/", "home/&{aws:username}/"]}]},
            {"actions": ["s3:*"],
             "resources": ["arn:aws:s3:::bkt/home/&{aws:username}",
                           "arn:aws:s3:::bkt/home/&{aws:username}/*"]}
        ]}"#,
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "1",
      "Effect": "Allow",
      "Action": [
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation"
      ],
      "Resource": "arn:aws:s3:::*"
    },
    {
      "Effect": "Allow",
      "Action": "s3:ListBucket",
      "Resource": "arn:aws:s3:::bkt",
      "Condition": {
        "StringLike": {
          "s3:prefix": [
            "home/${aws:username}/",
            "home/",
            ""
          ]
        }
      }
    },
    {
      "Effect": "Allow",
      "Action": "s3:*",
      "Resource": [
        "arn:aws:s3:::bkt/home/${aws:username}/*",
        "arn:aws:s3:::bkt/home/${aws:username}"
      ]
    }
  ]
}"#,
    );
}

#[test]
fn assume_role_trust_policy_with_service_principal() {
    check(
        r#"{"statement": [{"actions": ["sts:AssumeRole"],
            "principals": [{"type": "Service", "identifiers": ["ec2.amazonaws.com"]}]}]}"#,
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "sts:AssumeRole",
      "Principal": {
        "Service": "ec2.amazonaws.com"
      }
    }
  ]
}"#,
    );
}

#[test]
fn principals_star_and_aws_star_render_differently() {
    // type "*" with identifier "*" is the bare "*"; {"AWS": "*"} stays a map.
    check(
        r#"{"statement": [{"actions": ["s3:GetObject"], "resources": ["*"], "effect": "Deny",
            "principals": [{"type": "*", "identifiers": ["*"]}]}]}"#,
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Deny",
      "Action": "s3:GetObject",
      "Resource": "*",
      "Principal": "*"
    }
  ]
}"#,
    );
    check(
        r#"{"statement": [{"actions": ["s3:GetObject"], "resources": ["*"],
            "not_principals": [{"type": "AWS", "identifiers": ["*"]}]}]}"#,
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "s3:GetObject",
      "Resource": "*",
      "NotPrincipal": {
        "AWS": "*"
      }
    }
  ]
}"#,
    );
}

#[test]
fn principals_of_several_types_sorted_by_type_and_merged() {
    check(
        r#"{"statement": [{"actions": ["sts:AssumeRole"], "principals": [
            {"type": "Service", "identifiers": ["eks.amazonaws.com"]},
            {"type": "AWS", "identifiers": ["arn:aws:iam::123456789012:root", "arn:aws:iam::210987654321:root"]},
            {"type": "Service", "identifiers": ["ec2.amazonaws.com"]}]}]}"#,
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "sts:AssumeRole",
      "Principal": {
        "AWS": [
          "arn:aws:iam::210987654321:root",
          "arn:aws:iam::123456789012:root"
        ],
        "Service": [
          "eks.amazonaws.com",
          "ec2.amazonaws.com"
        ]
      }
    }
  ]
}"#,
    );
}

#[test]
fn several_condition_keys_and_values() {
    check(
        r#"{"statement": [{"actions": ["kms:Decrypt", "kms:GenerateDataKey"], "resources": ["*"],
            "condition": [
              {"test": "ForAnyValue:StringEquals", "variable": "kms:EncryptionContext:service", "values": ["pi"]},
              {"test": "ForAnyValue:StringEquals", "variable": "kms:EncryptionContext:aws:pi:service", "values": ["rds"]},
              {"test": "ForAnyValue:StringEquals", "variable": "kms:EncryptionContext:aws:rds:db-id",
               "values": ["db-AAAAABBBBBCCCCCDDDDDEEEEE", "db-EEEEEDDDDDCCCCCBBBBBAAAAA"]}]}]}"#,
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": [
        "kms:GenerateDataKey",
        "kms:Decrypt"
      ],
      "Resource": "*",
      "Condition": {
        "ForAnyValue:StringEquals": {
          "kms:EncryptionContext:aws:pi:service": "rds",
          "kms:EncryptionContext:aws:rds:db-id": [
            "db-EEEEEDDDDDCCCCCBBBBBAAAAA",
            "db-AAAAABBBBBCCCCCDDDDDEEEEE"
          ],
          "kms:EncryptionContext:service": "pi"
        }
      }
    }
  ]
}"#,
    );
}

#[test]
fn version_and_policy_id_and_not_lists() {
    check(
        r#"{"version": "2008-10-17", "policy_id": "my-policy",
            "statement": [{"sid": "DenyAllBut", "effect": "Deny", "not_actions": ["iam:*", "sts:*"],
                           "not_resources": ["arn:aws:s3:::a"]}]}"#,
        r#"{
  "Version": "2008-10-17",
  "Id": "my-policy",
  "Statement": [
    {
      "Sid": "DenyAllBut",
      "Effect": "Deny",
      "NotAction": [
        "sts:*",
        "iam:*"
      ],
      "NotResource": "arn:aws:s3:::a"
    }
  ]
}"#,
    );
}

const SOURCE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "ec2:*",
      "Resource": "*"
    },
    {
      "Sid": "SidToOverride",
      "Effect": "Allow",
      "Action": "s3:*",
      "Resource": "*"
    }
  ]
}"#;

fn with_documents(attr: &str, docs: &[&str], statements: &str) -> String {
    let docs = serde_json::to_string(docs).unwrap();
    format!(r#"{{"{attr}": {docs}, "statement": {statements}}}"#)
}

#[test]
fn source_policy_documents_are_overridden_by_the_statements() {
    let cfg = with_documents(
        "source_policy_documents",
        &[SOURCE],
        r#"[{"sid": "SidToOverride", "actions": ["s3:*"],
             "resources": ["arn:aws:s3:::somebucket", "arn:aws:s3:::somebucket/*"]}]"#,
    );
    check(
        &cfg,
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "ec2:*",
      "Resource": "*"
    },
    {
      "Sid": "SidToOverride",
      "Effect": "Allow",
      "Action": "s3:*",
      "Resource": [
        "arn:aws:s3:::somebucket/*",
        "arn:aws:s3:::somebucket"
      ]
    }
  ]
}"#,
    );
}

#[test]
fn override_policy_documents_override_the_statements() {
    let cfg = with_documents(
        "override_policy_documents",
        &[SOURCE],
        r#"[{"actions": ["ec2:*"], "resources": ["*"]},
            {"sid": "SidToOverride", "actions": ["s3:*"],
             "resources": ["arn:aws:s3:::somebucket", "arn:aws:s3:::somebucket/*"]}]"#,
    );
    // The statement without Sid of the override document appends; the
    // SidToOverride one replaces the configured statement in place.
    check(
        &cfg,
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "ec2:*",
      "Resource": "*"
    },
    {
      "Sid": "SidToOverride",
      "Effect": "Allow",
      "Action": "s3:*",
      "Resource": "*"
    },
    {
      "Effect": "Allow",
      "Action": "ec2:*",
      "Resource": "*"
    }
  ]
}"#,
    );
}

#[test]
fn documents_from_json_keep_their_order_but_principals_are_reverse_sorted() {
    let source = r#"{"Statement": {"Sid": "A", "Effect": "Allow",
        "Action": ["b:x", "a:y"], "Principal": {"AWS": ["111", "222"]},
        "Condition": {"Bool": {"aws:SecureTransport": false}, "StringEquals": {"k": ["v"]}}}}"#;
    check(
        &with_documents("source_policy_documents", &[source], "[]"),
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "A",
      "Effect": "Allow",
      "Action": [
        "b:x",
        "a:y"
      ],
      "Principal": {
        "AWS": [
          "222",
          "111"
        ]
      },
      "Condition": {
        "Bool": {
          "aws:SecureTransport": "false"
        },
        "StringEquals": {
          "k": "v"
        }
      }
    }
  ]
}"#,
    );
}

#[test]
fn html_characters_are_escaped_as_go_does() {
    check(
        r#"{"statement": [{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::a<b>&c"]}]}"#,
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::a\u003cb\u003e\u0026c"
    }
  ]
}"#,
    );
}

#[test]
fn no_statement_renders_only_the_version() {
    check(
        "{}",
        r#"{
  "Version": "2012-10-17"
}"#,
    );
}

#[test]
fn bad_inputs_are_errors() {
    check_error(
        r#"{"statement": [{"sid": "x", "actions": ["a:b"]}, {"sid": "x", "actions": ["c:d"]}]}"#,
        "duplicate Sid (x)",
    );
    check_error(
        r#"{"statement": [{"effect": "allow", "actions": ["a:b"]}]}"#,
        r#"expected effect to be one of ["Allow" "Deny"], got "allow""#,
    );
    check_error(
        r#"{"version": "2012-10-18"}"#,
        "expected version to be one of",
    );
    check_error(
        r#"{"version": "2008-10-17", "statement": [{"resources": ["arn:&{aws:username}"]}]}"#,
        "not supported in document version 2008-10-17",
    );
    check_error(
        r#"{"source_policy_documents": ["{not json"]}"#,
        "source_policy_documents[0] is not a valid policy document",
    );
    let twice = with_documents("source_policy_documents", &[SOURCE, SOURCE], "[]");
    check_error(
        &twice,
        "duplicate Sid (SidToOverride) found in source_policy_documents (item 1; statement 1)",
    );
}
