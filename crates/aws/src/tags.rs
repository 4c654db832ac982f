//! `tags` / `tags_all` and the ownership tags.
//!
//! `tags_all` = provider `default_tags` ∪ resource `tags` ∪ ownership tags
//! (`terrace:environment`, `terrace:address`); the resource's own tags win
//! over default tags, ownership tags win over both. Plan predicts it exactly
//! and read reports what the cloud has, so a second plan is empty.

use crate::provider::{OWNER_ADDRESS_TAG, OWNER_ENVIRONMENT_TAG};
use crate::values::{str_map_value, value_to_str_map};
use std::collections::BTreeMap;
use terrace_core::Value;
use terrace_provider::ResourceContext;

pub(crate) type TagMap = BTreeMap<String, String>;

/// The ownership tags of one resource instance.
pub(crate) fn ownership_tags(ctx: &ResourceContext) -> TagMap {
    TagMap::from([
        (OWNER_ENVIRONMENT_TAG.to_string(), ctx.environment.clone()),
        (OWNER_ADDRESS_TAG.to_string(), ctx.address.clone()),
    ])
}

/// The planned `tags_all` for the configured/planned `tags`; unknown when
/// any tag is unknown.
pub(crate) fn planned_tags_all(defaults: &TagMap, tags: &Value, ctx: &ResourceContext) -> Value {
    if !tags.is_wholly_known() {
        return Value::Unknown;
    }
    str_map_value(&merge_tags(defaults, &value_to_str_map(tags), ctx))
}

pub(crate) fn merge_tags(defaults: &TagMap, tags: &TagMap, ctx: &ResourceContext) -> TagMap {
    let mut all = defaults.clone();
    all.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    all.extend(ownership_tags(ctx));
    all
}

/// The tags to send on create: `tags_all` of the planned object (computed
/// again when the planned value is not a map).
pub(crate) fn create_tags(defaults: &TagMap, planned: &Value, ctx: &ResourceContext) -> TagMap {
    match planned.get("tags_all").and_then(Value::as_map) {
        Some(_) => value_to_str_map(planned.get("tags_all").unwrap_or(&Value::Null)),
        None => merge_tags(
            defaults,
            &value_to_str_map(planned.get("tags").unwrap_or(&Value::Null)),
            ctx,
        ),
    }
}

/// The provider block's tag settings: `default_tags` (what this derefs
/// to) and `ignore_tags`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderTags {
    pub(crate) defaults: TagMap,
    /// `ignore_tags.keys`.
    pub(crate) ignore_keys: Vec<String>,
    /// `ignore_tags.key_prefixes`.
    pub(crate) ignore_prefixes: Vec<String>,
}

impl std::ops::Deref for ProviderTags {
    type Target = TagMap;
    fn deref(&self) -> &TagMap {
        &self.defaults
    }
}

impl ProviderTags {
    /// A tag key `ignore_tags` names: left out of state (so never drift)
    /// and therefore never removed by an update.
    pub(crate) fn ignores(&self, key: &str) -> bool {
        self.ignore_keys.iter().any(|k| k == key)
            || self
                .ignore_prefixes
                .iter()
                .any(|p| key.starts_with(p.as_str()))
    }
}

/// `(tags, tags_all)` as state values from the tags the API reports.
/// `tags` drops ownership tags, and default tags unless the prior `tags`
/// set them itself; it stays null when nothing is left and it was null.
/// Keys `ignore_tags` names are left out of both.
pub(crate) fn tags_from_api(
    actual: &TagMap,
    prior: Option<&Value>,
    provider: &ProviderTags,
) -> (Value, Value) {
    let defaults = &provider.defaults;
    let actual: TagMap = actual
        .iter()
        .filter(|(k, _)| !provider.ignores(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let prior_tags = prior.and_then(|p| p.get("tags"));
    let prior_map = prior_tags.map(value_to_str_map).unwrap_or_default();
    let user: TagMap = actual
        .iter()
        .filter(|(k, _)| k.as_str() != OWNER_ENVIRONMENT_TAG && k.as_str() != OWNER_ADDRESS_TAG)
        .filter(|(k, v)| prior_map.contains_key(*k) || defaults.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let tags = if user.is_empty() && prior_tags.is_none_or(|t| t.as_map().is_none()) {
        Value::Null
    } else {
        str_map_value(&user)
    };
    (tags, str_map_value(&actual))
}

/// Keys to remove and tags to (re)write to go from `old` to `new`.
pub(crate) fn tag_changes(old: &TagMap, new: &TagMap) -> (Vec<String>, TagMap) {
    let removed = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    let changed = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (removed, changed)
}

/// Send the difference between two tag sets: `remove` gets the keys to
/// drop, `add` the tags to add or change; neither is called for nothing.
pub(crate) async fn send_tag_changes<R, RF, A, AF, E>(
    old: &TagMap,
    new: &TagMap,
    remove: R,
    add: A,
) -> Result<(), E>
where
    R: FnOnce(Vec<String>) -> RF,
    RF: std::future::Future<Output = Result<(), E>>,
    A: FnOnce(TagMap) -> AF,
    AF: std::future::Future<Output = Result<(), E>>,
{
    let (removed, changed) = tag_changes(old, new);
    if !removed.is_empty() {
        remove(removed).await?;
    }
    if !changed.is_empty() {
        add(changed).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ResourceContext {
        ResourceContext {
            environment: "dev".into(),
            address: "aws_vpc.main".into(),
        }
    }

    #[test]
    fn tags_all_merges_defaults_tags_and_ownership() {
        let defaults = TagMap::from([
            ("team".into(), "ci".into()),
            ("Name".into(), "default".into()),
        ]);
        let tags = Value::map([("Name", Value::from("main"))]);
        let all = planned_tags_all(&defaults, &tags, &ctx());
        assert_eq!(all.get("Name"), Some(&Value::from("main")));
        assert_eq!(all.get("team"), Some(&Value::from("ci")));
        assert_eq!(all.get(OWNER_ENVIRONMENT_TAG), Some(&Value::from("dev")));
        assert_eq!(
            all.get(OWNER_ADDRESS_TAG),
            Some(&Value::from("aws_vpc.main"))
        );
        assert_eq!(
            planned_tags_all(&defaults, &Value::map([("x", Value::Unknown)]), &ctx()),
            Value::Unknown
        );
    }

    #[test]
    fn read_tags_round_trip_the_plan() {
        let defaults = TagMap::from([("team".into(), "ci".into())]);
        let tags = Value::map([("Name", Value::from("main"))]);
        let all = merge_tags(&defaults, &value_to_str_map(&tags), &ctx());
        let prior = Value::map([("tags", tags.clone())]);
        let provider = ProviderTags {
            defaults: defaults.clone(),
            ..ProviderTags::default()
        };
        let (t, a) = tags_from_api(&all, Some(&prior), &provider);
        assert_eq!(t, tags);
        assert_eq!(a, str_map_value(&all));
        let (t, _) = tags_from_api(
            &merge_tags(&defaults, &TagMap::new(), &ctx()),
            None,
            &provider,
        );
        assert_eq!(t, Value::Null);
    }

    #[test]
    fn ignored_tags_stay_out_of_state() {
        let provider = ProviderTags {
            ignore_keys: vec!["LastScanned".into()],
            ignore_prefixes: vec!["kubernetes.io/".into()],
            ..ProviderTags::default()
        };
        let actual = TagMap::from([
            ("Name".into(), "main".into()),
            ("LastScanned".into(), "today".into()),
            ("kubernetes.io/cluster/x".into(), "shared".into()),
        ]);
        let prior = Value::map([("tags", Value::map([("Name", Value::from("main"))]))]);
        let (t, a) = tags_from_api(&actual, Some(&prior), &provider);
        let only_name = Value::map([("Name", Value::from("main"))]);
        assert_eq!(t, only_name);
        assert_eq!(a, only_name);
        // So an update computed from state never removes them.
        let old = value_to_str_map(&a);
        let (removed, _) = tag_changes(&old, &TagMap::new());
        assert_eq!(removed, vec!["Name".to_string()]);
    }

    #[test]
    fn tag_changes_diff() {
        let old = TagMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        let new = TagMap::from([("b".into(), "3".into()), ("c".into(), "4".into())]);
        let (removed, changed) = tag_changes(&old, &new);
        assert_eq!(removed, vec!["a".to_string()]);
        assert_eq!(changed.len(), 2);
    }
}
