//! `aws_key_pair`: an imported public key (`ImportKeyPair`). Its `id` is
//! the key name (the import ID). AWS cannot report the public key back, so
//! `public_key` is kept from state (null after an import, as in Terraform);
//! nor its ARN, which is built at create (null after an import).

use super::ec2::find::{Ec2Mapped, Lookups, read_mapped};
use super::ec2_support::{ok_if_gone, tag_spec, tags_to_map, update_tags};
use super::iam::generated_name;
use super::{ResourceType, require_id};
use crate::Result;
use crate::api::argument_error;
use crate::provider::AwsProvider;
use crate::schema::SchemaAttrs;
use crate::tags::{create_tags, tags_from_api};
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{KeyPairInfo, ResourceType as Ec2ResourceType};
use terrace_core::Value;
use terrace_provider::{
    AttrType, Attribute, CreateContext, ProviderError, ResourceContext, Schema,
};

pub(crate) struct KeyPair;

const NAME: &str = "aws_key_pair";

impl Ec2Mapped for KeyPair {
    type Object = KeyPairInfo;

    fn map(&self, p: &AwsProvider, k: &KeyPairInfo, prior: Option<&Value>) -> Value {
        let name = k.key_name().unwrap_or_default();
        let id = k.key_pair_id().unwrap_or_default();
        let (tags, tags_all) = tags_from_api(&tags_to_map(k.tags()), prior, &p.default_tags);
        Obj::new(&p.resource_schema(NAME))
            .keep(prior, &["public_key", "key_name_prefix", "arn"])
            .set("id", name)
            .set("key_name", name)
            .set("key_pair_id", id)
            .set_opt_str("fingerprint", k.key_fingerprint())
            .set_opt_str("key_type", k.key_type().map(|t| t.as_str()))
            .set("tags", tags)
            .set("tags_all", tags_all)
            .build()
    }
}

#[async_trait]
impl ResourceType for KeyPair {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attrs(
                &["id", "arn", "key_pair_id", "fingerprint", "key_type"],
                Attribute::computed(AttrType::String),
            )
            .attr(
                "key_name",
                Attribute::optional_computed(AttrType::String).force_new(),
            )
            .attr(
                "key_name_prefix",
                Attribute::optional(AttrType::String).force_new(),
            )
            .attr(
                "public_key",
                Attribute::required(AttrType::String).force_new(),
            )
            .tagged()
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    async fn create(&self, p: &AwsProvider, planned: &Value, ctx: &CreateContext) -> Result<Value> {
        let name = get_str(planned, "key_name").unwrap_or_else(|| {
            generated_name(
                Some(
                    get_str(planned, "key_name_prefix")
                        .as_deref()
                        .unwrap_or("terraform-"),
                ),
                &ctx.idempotency_token,
            )
        });
        let key = get_str(planned, "public_key").unwrap_or_default();
        check_public_key(&key)?;
        let tags = create_tags(&p.default_tags, planned, &ctx.resource);
        p.call("ec2:ImportKeyPair", || {
            p.ec2
                .import_key_pair()
                .key_name(&name)
                .public_key_material(Blob::new(key.trim().as_bytes()))
                .tag_specifications(tag_spec(Ec2ResourceType::KeyPair, &tags))
                .send()
        })
        .await
        .map_err(|e| match &e {
            ProviderError::Api { code, .. }
            | ProviderError::Conflict { code, .. }
            | ProviderError::InvalidArgument { code, .. }
                if code.contains("Duplicate") =>
            {
                argument_error(e, "key_name")
            }
            ProviderError::Api { code, .. } | ProviderError::InvalidArgument { code, .. }
                if code.starts_with("InvalidKey") =>
            {
                argument_error(e, "public_key")
            }
            _ => e,
        })?;
        // The API reports no ARN: build it from the caller's account.
        let me = p
            .call("sts:GetCallerIdentity", || {
                p.sts.get_caller_identity().send()
            })
            .await?;
        let arn = p.arn(
            "ec2",
            me.account().unwrap_or_default(),
            &format!("key-pair/{name}"),
        );
        let mut with_arn = planned.clone();
        if let Some(m) = with_arn.as_map_mut() {
            m.insert("arn".into(), Value::from(arn));
        }
        read_mapped(self, p, &name, Some(&with_arn), "key pair").await
    }

    async fn update(
        &self,
        p: &AwsProvider,
        prior: &Value,
        planned: &Value,
        _ctx: &ResourceContext,
    ) -> Result<Value> {
        let name = require_id(NAME, prior)?;
        // Tags are set on the key pair ID.
        let id = get_str(prior, "key_pair_id").unwrap_or_default();
        update_tags(p, &id, prior, planned).await?;
        read_mapped(self, p, &name, Some(planned), "key pair").await
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let name = require_id(NAME, prior)?;
        ok_if_gone(
            p.call("ec2:DeleteKeyPair", || {
                p.ec2.delete_key_pair().key_name(&name).send()
            })
            .await,
        )
    }
}

/// Key material EC2 can import: OpenSSH `ssh-rsa`, `ssh-ed25519` or
/// `ecdsa-sha2-nistp*` with a base64 body (AWS answers anything else with
/// `InvalidKey.Format`; checking first gives the same error on every
/// endpoint and never sends a create that cannot succeed).
fn check_public_key(key: &str) -> Result<()> {
    use base64::Engine;
    let mut words = key.split_whitespace();
    let kind = words.next().unwrap_or("");
    let body = words.next().unwrap_or("");
    let known = ["ssh-rsa", "ssh-ed25519"].contains(&kind) || kind.starts_with("ecdsa-sha2-nistp");
    if known
        && base64::engine::general_purpose::STANDARD
            .decode(body)
            .is_ok()
    {
        return Ok(());
    }
    Err(ProviderError::InvalidArgument {
        path: Some(vec![terrace_core::PathStep::Key("public_key".into())]),
        code: "InvalidKey.Format".into(),
        message: "public_key is not an OpenSSH public key: give `ssh-rsa AAAA…`, \
                  `ssh-ed25519 AAAA…` or `ecdsa-sha2-nistp256 AAAA…` (e.g. the contents of \
                  ~/.ssh/id_ed25519.pub)"
            .into(),
    })
}
