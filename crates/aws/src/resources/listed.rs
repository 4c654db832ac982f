//! Types whose objects are found by listing them with their tags through
//! their own service's API (IAM, KMS, CloudWatch Logs — no EC2 filters):
//! such a type implements [`TagListed`] and returns `Some(self)` from
//! `ResourceType::tag_listed`; crash recovery (`find_created`, by the
//! ownership address) and unmanaged detection (`list_owned`, by the
//! environment) then come from its one `read_matching`.

use crate::Result;
use crate::provider::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::tags::TagMap;
use async_trait::async_trait;
use terrace_core::Value;
use terrace_provider::ResourceContext;

/// Which tag sets to keep.
pub(crate) type TagFilter<'a> = &'a (dyn Fn(&TagMap) -> bool + Send + Sync);

#[async_trait]
pub(crate) trait TagListed: Send + Sync {
    /// Every object of the type whose tags `keep` accepts, as state values.
    async fn read_matching(&self, p: &AwsProvider, keep: TagFilter<'_>) -> Result<Vec<Value>>;
}

pub(crate) fn owned_by_env(tags: &TagMap, environment: &str) -> bool {
    tags.get(OWNER_ENVIRONMENT_TAG).map(String::as_str) == Some(environment)
}

pub(crate) fn owned_by_address(tags: &TagMap, ctx: &ResourceContext) -> bool {
    owned_by_env(tags, &ctx.environment) && tags.get(OWNER_ADDRESS_TAG) == Some(&ctx.address)
}

/// What the resource instance `ctx` made, by its ownership tags.
pub(crate) async fn find_created(
    t: &dyn TagListed,
    p: &AwsProvider,
    ctx: &ResourceContext,
) -> Result<Option<Value>> {
    let keep = |tags: &TagMap| owned_by_address(tags, ctx);
    Ok(t.read_matching(p, &keep).await?.into_iter().next())
}

/// Everything carrying the environment's ownership tag.
pub(crate) async fn list_owned(
    t: &dyn TagListed,
    p: &AwsProvider,
    environment: &str,
) -> Result<Vec<Value>> {
    let keep = |tags: &TagMap| owned_by_env(tags, environment);
    t.read_matching(p, &keep).await
}
