//! Shorthands for declaring resource and data source schemas.

use terrace_provider::{AttrType, Attribute, Schema};

/// Declaring several attributes of one kind in one call, so a schema reads
/// as a few lines grouped by kind instead of one call per attribute.
pub(crate) trait SchemaAttrs {
    /// The same attribute under each of `names`.
    fn attrs(self, names: &[&str], a: Attribute) -> Self;

    /// Terraform's `tags` (optional) and `tags_all` (computed) maps, for
    /// every type the API can tag.
    fn tagged(self) -> Self;

    /// Terraform's `name` (optional, computed when left out) and
    /// `name_prefix` (optional), both forcing a new object when changed:
    /// the pair of every type whose name AWS can generate.
    fn named_or_prefixed(self) -> Self;
}

impl SchemaAttrs for Schema {
    fn attrs(self, names: &[&str], a: Attribute) -> Self {
        names.iter().fold(self, |s, n| s.attr(n, a.clone()))
    }

    fn tagged(self) -> Self {
        self.attr(
            "tags",
            Attribute::optional(AttrType::map_of(AttrType::String)),
        )
        .attr(
            "tags_all",
            Attribute::computed(AttrType::map_of(AttrType::String)),
        )
    }

    fn named_or_prefixed(self) -> Self {
        self.attr(
            "name",
            Attribute::optional_computed(AttrType::String).force_new(),
        )
        .attr(
            "name_prefix",
            Attribute::optional(AttrType::String).force_new(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_declares_each_name_with_the_same_attribute() {
        let a = Attribute::required(AttrType::String).force_new();
        let s = Schema::new()
            .attr("other", Attribute::computed(AttrType::Number))
            .attrs(&["a", "b"], a.clone());
        assert_eq!(
            s,
            Schema::new()
                .attr("other", Attribute::computed(AttrType::Number))
                .attr("a", a.clone())
                .attr("b", a)
        );
        assert_eq!(
            Schema::new().attrs(&[], Attribute::computed(AttrType::String)),
            Schema::new()
        );
    }

    #[test]
    fn tagged_adds_terraforms_tags_and_tags_all() {
        let s = Schema::new().tagged();
        assert_eq!(s.attributes.len(), 2);
        assert!(s.attributes["tags"].is_configurable());
        assert!(!s.attributes["tags_all"].is_configurable());
        assert_eq!(
            s.attributes["tags_all"].ty,
            AttrType::map_of(AttrType::String)
        );
    }

    #[test]
    fn named_or_prefixed_declares_name_and_name_prefix_forcing_new() {
        let s = Schema::new().named_or_prefixed();
        assert_eq!(s.attributes.len(), 2);
        assert_eq!(
            s.attributes["name"],
            Attribute::optional_computed(AttrType::String).force_new()
        );
        assert_eq!(
            s.attributes["name_prefix"],
            Attribute::optional(AttrType::String).force_new()
        );
    }
}
