//! `aws_vpc_ipv4_cidr_block_association`: a secondary IPv4 CIDR of a
//! VPC. Both arguments force replacement; create and delete wait until
//! AWS reports the association `associated` / gone (Terraform's 10
//! minutes). The ID is the association ID; it imports by that ID. Reads
//! find every prior's VPC in one filtered `DescribeVpcs`.

use super::find::{find_all, find_by_ids};
use crate::Result;
use crate::provider::AwsProvider;
use crate::resources::InPlace;
use crate::resources::ec2_support::{filter, ok_if_gone, prior_ids};
use crate::resources::{ResourceType, partially_created, require_id, wait_for};
use crate::values::{Obj, get_str};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Vpc, VpcCidrBlockAssociation, VpcCidrBlockStateCode};
use std::time::Duration;
use terrace_core::Value;
use terrace_provider::{AttrType, Attribute, CreateContext, ProviderError, Schema};

pub(crate) struct VpcCidrAssociation;

const NAME: &str = "aws_vpc_ipv4_cidr_block_association";

const TIMEOUT: Duration = Duration::from_secs(600);

const FILTER: &str = "cidr-block-association.association-id";

/// The live association `id` among the VPCs.
fn find<'a>(
    vpcs: impl IntoIterator<Item = &'a Vpc>,
    id: &str,
) -> Option<(&'a Vpc, &'a VpcCidrBlockAssociation)> {
    vpcs.into_iter().find_map(|v| {
        v.cidr_block_association_set()
            .iter()
            .find(|a| {
                a.association_id() == Some(id)
                    && !matches!(
                        a.cidr_block_state().and_then(|s| s.state()),
                        Some(
                            VpcCidrBlockStateCode::Disassociated
                                | VpcCidrBlockStateCode::Disassociating
                                | VpcCidrBlockStateCode::Failed
                        )
                    )
            })
            .map(|a| (v, a))
    })
}

impl VpcCidrAssociation {
    fn value(&self, p: &AwsProvider, v: &Vpc, a: &VpcCidrBlockAssociation) -> Value {
        Obj::new(&p.resource_schema(NAME))
            .set_opt_str("id", a.association_id())
            .set_opt_str("vpc_id", v.vpc_id())
            .set_opt_str("cidr_block", a.cidr_block())
            .build()
    }

    async fn lookup(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        let vpcs = find_all::<Vpc>(p, vec![filter(FILTER, [id])]).await?;
        Ok(find(&vpcs, id).map(|(v, a)| self.value(p, v, a)))
    }

    /// Wait until the association is `associated` (`true`) or gone.
    async fn wait(&self, p: &AwsProvider, id: &str, associated: bool) -> Result<()> {
        let what = if associated {
            "VPC CIDR block to associate"
        } else {
            "VPC CIDR block to disassociate"
        };
        wait_for(what, TIMEOUT, Duration::from_secs(2), || async move {
            let vpcs = find_all::<Vpc>(p, vec![filter(FILTER, [id])]).await?;
            let state = find(&vpcs, id)
                .and_then(|(_, a)| a.cidr_block_state().and_then(|s| s.state()).cloned());
            Ok(match (associated, state) {
                (true, Some(VpcCidrBlockStateCode::Associated)) | (false, None) => Some(()),
                (true, None) => {
                    return Err(ProviderError::Api {
                        code: "AssociationFailed".into(),
                        message: format!("CIDR block association {id} failed"),
                    });
                }
                _ => None,
            })
        })
        .await
    }
}

#[async_trait]
impl ResourceType for VpcCidrAssociation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", Attribute::computed(AttrType::String))
            .attr("vpc_id", Attribute::required(AttrType::String).force_new())
            .attr(
                "cidr_block",
                Attribute::optional_computed(AttrType::String).force_new(),
            )
    }

    fn untagged(&self) -> bool {
        true
    }

    async fn read_many(&self, p: &AwsProvider, prior: &[Value]) -> Result<Vec<Option<Value>>> {
        let vpc_ids: Vec<String> = prior
            .iter()
            .map(|v| get_str(v, "vpc_id").unwrap_or_default())
            .collect();
        let vpcs = find_by_ids::<Vpc>(p, &vpc_ids).await?;
        Ok(prior_ids(prior)
            .iter()
            .map(|id| find(vpcs.values(), id).map(|(v, a)| self.value(p, v, a)))
            .collect())
    }

    async fn import(&self, p: &AwsProvider, id: &str) -> Result<Option<Value>> {
        self.lookup(p, id).await
    }

    async fn create(
        &self,
        p: &AwsProvider,
        planned: &Value,
        _ctx: &CreateContext,
    ) -> Result<Value> {
        let out = p
            .call("ec2:AssociateVpcCidrBlock", || {
                p.ec2
                    .associate_vpc_cidr_block()
                    .set_vpc_id(get_str(planned, "vpc_id"))
                    .set_cidr_block(get_str(planned, "cidr_block"))
                    .send()
            })
            .await?;
        let id = out
            .cidr_block_association()
            .and_then(|a| a.association_id())
            .unwrap_or_default()
            .to_string();
        let made = Value::map([("id", Value::from(id.clone()))]);
        let done = async {
            self.wait(p, &id, true).await?;
            self.lookup(p, &id).await?.ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "CIDR block association {id} not found after create"
                ))
            })
        };
        done.await.map_err(|e| partially_created(&made, e))
    }

    fn in_place(&self) -> InPlace {
        InPlace::Nothing
    }

    async fn delete(&self, p: &AwsProvider, prior: &Value) -> Result<()> {
        let id = require_id(NAME, prior)?;
        let r = p
            .call("ec2:DisassociateVpcCidrBlock", || {
                p.ec2
                    .disassociate_vpc_cidr_block()
                    .association_id(&id)
                    .send()
            })
            .await;
        match r {
            Err(ProviderError::Api { code, .. })
                if code == "InvalidVpcCidrBlockAssociationID.NotFound" =>
            {
                Ok(())
            }
            other => ok_if_gone(other),
        }?;
        self.wait(p, &id, false).await
    }
}
