//! Shared EC2 plumbing: filters, tags, batched describes by ID.

use crate::Result;
use crate::provider::{AwsProvider, OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::tags::{TagMap, tag_changes};
use crate::values::value_to_str_map;
use aws_sdk_ec2::types::{Filter, ResourceType as Ec2ResourceType, Tag, TagSpecification};
use std::collections::BTreeMap;
use std::future::Future;
use terrace_core::Value;
use terrace_provider::ResourceContext;

/// Values per filter in one describe call (the EC2 limit is 200).
pub(crate) const FILTER_CHUNK: usize = 200;

pub(crate) fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

/// Filters selecting the objects one resource instance owns.
pub(crate) fn address_filters(ctx: &ResourceContext) -> Vec<Filter> {
    vec![
        filter(
            &format!("tag:{OWNER_ENVIRONMENT_TAG}"),
            [ctx.environment.clone()],
        ),
        filter(&format!("tag:{OWNER_ADDRESS_TAG}"), [ctx.address.clone()]),
    ]
}

/// Filter selecting everything an environment owns.
pub(crate) fn environment_filter(environment: &str) -> Filter {
    filter(
        &format!("tag:{OWNER_ENVIRONMENT_TAG}"),
        [environment.to_string()],
    )
}

pub(crate) fn tags_to_map(tags: &[Tag]) -> TagMap {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn to_tags(tags: &TagMap) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(crate) fn tag_spec(resource_type: Ec2ResourceType, tags: &TagMap) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(to_tags(tags)))
        .build()
}

/// Bring an object's tags from the prior `tags_all` to the planned one.
pub(crate) async fn update_tags(
    p: &AwsProvider,
    id: &str,
    prior: &Value,
    planned: &Value,
) -> Result<()> {
    let old = value_to_str_map(prior.get("tags_all").unwrap_or(&Value::Null));
    let new = value_to_str_map(planned.get("tags_all").unwrap_or(&Value::Null));
    let (removed, changed) = tag_changes(&old, &new);
    if !removed.is_empty() {
        let keys: Vec<Tag> = removed
            .iter()
            .map(|k| Tag::builder().key(k).build())
            .collect();
        p.call("ec2:DeleteTags", || {
            p.ec2
                .delete_tags()
                .resources(id)
                .set_tags(Some(keys.clone()))
                .send()
        })
        .await?;
    }
    if !changed.is_empty() {
        let tags = to_tags(&changed);
        p.call("ec2:CreateTags", || {
            p.ec2
                .create_tags()
                .resources(id)
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await?;
    }
    Ok(())
}

/// Describe objects by ID in batches: `describe(ids, next_token)` returns
/// one page of objects with their IDs. IDs that do not exist are simply
/// absent from the result (callers pass ID *filters*, which never fail on
/// missing IDs).
pub(crate) async fn describe_by_ids<T, F, Fut>(
    ids: &[String],
    describe: F,
) -> Result<BTreeMap<String, T>>
where
    F: Fn(Vec<String>, Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<(String, T)>, Option<String>)>>,
{
    let mut unique: Vec<String> = ids.to_vec();
    unique.sort();
    unique.dedup();
    Ok(describe_chunked(&unique, FILTER_CHUNK, describe)
        .await?
        .into_iter()
        .collect())
}

/// Describe `names` in chunks of `per_call` (the API's limit on names in
/// one call), following each chunk's pages; everything the pages return,
/// in order.
pub(crate) async fn describe_chunked<T, F, Fut>(
    names: &[String],
    per_call: usize,
    describe: F,
) -> Result<Vec<T>>
where
    F: Fn(Vec<String>, Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>)>>,
{
    let mut out = Vec::new();
    for chunk in names.chunks(per_call) {
        out.extend(describe_all(|token| describe(chunk.to_vec(), token)).await?);
    }
    Ok(out)
}

/// Describe with filters, following pages, collecting everything.
pub(crate) async fn describe_all<T, F, Fut>(describe: F) -> Result<Vec<T>>
where
    F: Fn(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>)>>,
{
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let (items, next) = describe(token.clone()).await?;
        out.extend(items);
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(out),
        }
    }
}

/// IDs of the priors (missing IDs become empty strings, which match nothing).
pub(crate) fn prior_ids(prior: &[Value]) -> Vec<String> {
    prior
        .iter()
        .map(|v| {
            v.get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// Success when the object is already gone (deletes).
pub(crate) fn ok_if_gone<T>(r: Result<T>) -> Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if crate::api::is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use terrace_provider::ProviderError;

    #[tokio::test]
    async fn describe_chunked_sends_chunks_and_follows_their_pages() {
        let names: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let calls = Mutex::new(Vec::new());
        let calls = &calls;
        // Each chunk answers in two pages: its first name, then the rest.
        let found = describe_chunked(&names, 2, |chunk, token| async move {
            calls.lock().unwrap().push((chunk.clone(), token.clone()));
            Ok(match token {
                None if chunk.len() > 1 => (chunk[..1].to_vec(), Some("next".to_string())),
                None => (chunk, Some(String::new())),
                Some(_) => (chunk[1..].to_vec(), None),
            })
        })
        .await
        .unwrap();
        assert_eq!(found, names);
        assert_eq!(
            calls.lock().unwrap().len(),
            5,
            "two pages for each full chunk"
        );
    }

    #[tokio::test]
    async fn describe_chunked_stops_at_the_first_error() {
        let names = vec!["a".to_string(), "b".to_string()];
        let r: Result<Vec<String>> = describe_chunked(&names, 1, |chunk, _| async move {
            if chunk[0] == "b" {
                Err(ProviderError::NotFound("b".into()))
            } else {
                Ok((chunk, None))
            }
        })
        .await;
        assert!(matches!(r, Err(ProviderError::NotFound(_))));
    }
}
