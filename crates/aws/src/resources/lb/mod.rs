//! Elastic Load Balancing v2 types (`aws_lb`, `aws_lb_target_group`,
//! `aws_lb_listener`, `aws_lb_target_group_attachment`) and the shapes they
//! share: every ELBv2 object is described by ARN ([`Elbv2Object`], in
//! chunks of 20 following markers) and tagged through `DescribeTags` /
//! `AddTags` / `RemoveTags` by ARN, so a tagged ELBv2 type implements
//! [`Elbv2Mapped`] (its mapping) and gets its `read_many`, `find_created`
//! and `list_owned` from one `elbv2_lookups!` line.

pub(crate) mod attachment;
pub(crate) mod listener;
pub(crate) mod load_balancer;
pub(crate) mod target_group;

use crate::Result;
use crate::provider::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::resources::ec2_support::prior_ids;
use crate::tags::{TagMap, send_tag_changes};
use crate::values::value_to_str_map;
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::Tag;
use std::collections::BTreeMap;
use terrace_core::Value;
use terrace_provider::ResourceContext;

/// ARNs per `Describe*` / `DescribeTags` call (the ELBv2 limit).
const ARN_CHUNK: usize = 20;

/// An ELBv2 object type listed by a `Describe*` call that takes ARNs.
#[async_trait]
pub(crate) trait Elbv2Object: Sized + Clone + Send + Sync + 'static {
    fn arn(&self) -> Option<&str>;

    /// One page: the objects with these ARNs, or all of them (`None`).
    async fn describe_page(
        p: &AwsProvider,
        arns: Option<Vec<String>>,
        marker: Option<String>,
    ) -> Result<(Vec<Self>, Option<String>)>;

    /// Every object of the type (the default follows the pages of an
    /// unfiltered describe).
    async fn describe_every(p: &AwsProvider) -> Result<Vec<Self>> {
        pages(|m| Self::describe_page(p, None, m)).await
    }
}

/// Follow the markers of a describe call.
pub(crate) async fn pages<T, F, Fut>(describe: F) -> Result<Vec<T>>
where
    F: Fn(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>)>>,
{
    crate::resources::ec2_support::describe_all(describe).await
}

/// The objects with these ARNs, keyed by ARN; missing ones are absent.
/// ELBv2 fails a whole describe when one ARN is missing: the chunk is
/// then looked up one ARN at a time.
pub(crate) async fn find_by_arns<T: Elbv2Object>(
    p: &AwsProvider,
    arns: &[String],
) -> Result<BTreeMap<String, T>> {
    let mut unique: Vec<String> = arns.iter().filter(|a| !a.is_empty()).cloned().collect();
    unique.sort();
    unique.dedup();
    let mut out = BTreeMap::new();
    for chunk in unique.chunks(ARN_CHUNK) {
        let found = match pages(|m| T::describe_page(p, Some(chunk.to_vec()), m)).await {
            Ok(found) => found,
            Err(e) if crate::api::is_not_found(&e) && chunk.len() > 1 => {
                let mut found = Vec::new();
                for arn in chunk {
                    match pages(|m| T::describe_page(p, Some(vec![arn.clone()]), m)).await {
                        Ok(one) => found.extend(one),
                        Err(e) if crate::api::is_not_found(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
                found
            }
            Err(e) if crate::api::is_not_found(&e) => Vec::new(),
            Err(e) => return Err(e),
        };
        out.extend(
            found
                .into_iter()
                .filter_map(|o| Some((o.arn()?.to_string(), o))),
        );
    }
    Ok(out)
}

/// The tags of these ARNs, `DescribeTags` in chunks of 20.
pub(crate) async fn tags_of(p: &AwsProvider, arns: &[String]) -> Result<BTreeMap<String, TagMap>> {
    let mut out = BTreeMap::new();
    for chunk in arns.chunks(ARN_CHUNK) {
        let got = p
            .call("elbv2:DescribeTags", || {
                p.elbv2
                    .describe_tags()
                    .set_resource_arns(Some(chunk.to_vec()))
                    .send()
            })
            .await?;
        for d in got.tag_descriptions() {
            let tags = d
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect();
            out.insert(d.resource_arn().unwrap_or_default().to_string(), tags);
        }
    }
    Ok(out)
}

/// ELBv2 tags from a tag map (create calls and `AddTags`).
pub(crate) fn to_tags(tags: &TagMap) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Bring an object's tags from the prior `tags_all` to the planned one.
pub(crate) async fn update_tags(
    p: &AwsProvider,
    arn: &str,
    prior: &Value,
    planned: &Value,
) -> Result<()> {
    let old = value_to_str_map(prior.get("tags_all").unwrap_or(&Value::Null));
    let new = value_to_str_map(planned.get("tags_all").unwrap_or(&Value::Null));
    send_tag_changes(
        &old,
        &new,
        |keys| async move {
            p.call("elbv2:RemoveTags", || {
                p.elbv2
                    .remove_tags()
                    .resource_arns(arn)
                    .set_tag_keys(Some(keys.clone()))
                    .send()
            })
            .await
            .map(|_| ())
        },
        |tags| async move {
            let tags = to_tags(&tags);
            p.call("elbv2:AddTags", || {
                p.elbv2
                    .add_tags()
                    .resource_arns(arn)
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await
            .map(|_| ())
        },
    )
    .await
}

/// A tagged ELBv2 resource type whose state maps one object (plus what
/// the mapping reads beside it, e.g. attributes).
#[async_trait]
pub(crate) trait Elbv2Mapped: Send + Sync {
    type Object: Elbv2Object;

    /// The state value of `object` with its tags; `prior` supplies what
    /// the API cannot tell.
    async fn map(
        &self,
        p: &AwsProvider,
        object: &Self::Object,
        tags: &TagMap,
        prior: Option<&Value>,
    ) -> Result<Value>;
}

/// Map objects with their tags (one `DescribeTags` per 20), a few
/// mappings in flight.
async fn map_all<M: Elbv2Mapped>(
    m: &M,
    p: &AwsProvider,
    objects: Vec<(M::Object, Option<Value>)>,
) -> Result<Vec<Value>> {
    use futures::{StreamExt, TryStreamExt};
    let arns: Vec<String> = objects
        .iter()
        .filter_map(|(o, _)| o.arn().map(str::to_string))
        .collect();
    let tags = tags_of(p, &arns).await?;
    let tags = &tags;
    futures::stream::iter(objects)
        .map(|(o, prior)| async move {
            let t = tags
                .get(o.arn().unwrap_or_default())
                .cloned()
                .unwrap_or_default();
            m.map(p, &o, &t, prior.as_ref()).await
        })
        .buffered(8)
        .try_collect()
        .await
}

/// `read_many`: describe the priors by ARN (their `id`) in batches.
pub(crate) async fn read_many<M: Elbv2Mapped>(
    m: &M,
    p: &AwsProvider,
    prior: &[Value],
) -> Result<Vec<Option<Value>>> {
    let ids = prior_ids(prior);
    let mut found = find_by_arns::<M::Object>(p, &ids).await?;
    let present: Vec<(usize, M::Object)> = ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| Some((i, found.get(id)?.clone())))
        .collect();
    found.clear();
    let objects = present
        .iter()
        .map(|(i, o)| (o.clone(), Some(prior[*i].clone())))
        .collect();
    let mapped = map_all(m, p, objects).await?;
    let mut out = vec![None; prior.len()];
    for ((i, _), v) in present.into_iter().zip(mapped) {
        out[i] = Some(v);
    }
    Ok(out)
}

/// One object by ARN, mapped (`None` when it does not exist).
pub(crate) async fn read_one<M: Elbv2Mapped>(
    m: &M,
    p: &AwsProvider,
    arn: &str,
    prior: Option<&Value>,
) -> Result<Option<Value>> {
    let found = find_by_arns::<M::Object>(p, &[arn.to_string()]).await?;
    let objects = found.into_values().map(|o| (o, prior.cloned())).collect();
    Ok(map_all(m, p, objects).await?.pop())
}

/// Every object whose tags carry all of `want`, mapped without a prior.
pub(crate) async fn owned<M: Elbv2Mapped>(
    m: &M,
    p: &AwsProvider,
    want: &[(&str, &str)],
) -> Result<Vec<Value>> {
    let all = M::Object::describe_every(p).await?;
    let arns: Vec<String> = all
        .iter()
        .filter_map(|o| o.arn().map(str::to_string))
        .collect();
    let tags = tags_of(p, &arns).await?;
    let mine: Vec<(M::Object, Option<Value>)> = all
        .into_iter()
        .filter(|o| {
            let t = tags.get(o.arn().unwrap_or_default());
            want.iter()
                .all(|(k, v)| t.and_then(|t| t.get(*k)).map(String::as_str) == Some(*v))
        })
        .map(|o| (o, None))
        .collect();
    map_all(m, p, mine).await
}

/// The instance `ctx` made, by its ownership tags.
pub(crate) async fn find_owned<M: Elbv2Mapped>(
    m: &M,
    p: &AwsProvider,
    ctx: &ResourceContext,
) -> Result<Option<Value>> {
    let want = [
        (OWNER_ENVIRONMENT_TAG, ctx.environment.as_str()),
        (OWNER_ADDRESS_TAG, ctx.address.as_str()),
    ];
    Ok(owned(m, p, &want).await?.into_iter().next())
}

/// `Lookups` of a tagged ELBv2 type from its [`Elbv2Mapped`].
macro_rules! elbv2_lookups {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl crate::resources::ec2::find::Lookups for $ty {
            async fn read_many(
                &self,
                p: &AwsProvider,
                prior: &[Value],
            ) -> Result<Vec<Option<Value>>> {
                crate::resources::lb::read_many(self, p, prior).await
            }

            async fn find_created(
                &self,
                p: &AwsProvider,
                ctx: &terrace_provider::ResourceContext,
            ) -> Result<Option<Value>> {
                crate::resources::lb::find_owned(self, p, ctx).await
            }

            async fn list_owned(&self, p: &AwsProvider, environment: &str) -> Result<Vec<Value>> {
                let want = [(crate::provider::OWNER_ENVIRONMENT_TAG, environment)];
                crate::resources::lb::owned(self, p, &want).await
            }
        }
    };
}
pub(crate) use elbv2_lookups;

/// The part of an ELBv2 ARN from `resource` on (`arn_suffix`, as
/// CloudWatch dimensions name it): `app/name/id` after `loadbalancer/`,
/// `targetgroup/name/id` from `targetgroup/`.
pub(crate) fn arn_suffix(arn: &str, resource: &str, keep_resource: bool) -> String {
    match arn.split_once(&format!(":{resource}/")) {
        Some((_, rest)) if keep_resource => format!("{resource}/{rest}"),
        Some((_, rest)) => rest.to_string(),
        None => String::new(),
    }
}

/// The attributes `Describe*Attributes` reports, by key.
pub(crate) fn attribute_map<'a>(
    pairs: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect()
}

/// A short unique suffix derived from a create's idempotency token, as
/// Terraform's prefixed unique IDs have.
pub(crate) fn unique_suffix(token: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    token.hash(&mut h);
    format!("{:016x}", h.finish())
}
