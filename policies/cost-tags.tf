# Every AWS resource that can carry tags carries the cost tags, so the bill
# can be split by team and cost centre. `tags_all` is what AWS gets: the
# provider's default_tags, the resource's own tags and terrace's ownership
# tags (environments/*/terraform.tfvars set CostCenter and Owner through
# var.tags, which every environment passes to default_tags).
policy "cost-tags" {
  environments   = ["stage", "prod", "pr-*"]
  resource_types = ["aws_*"]
  enforcement    = "deny"

  # Types without tags (an IAM policy attachment, say) pass: the fallback is
  # true when the object has no tags_all attribute, false when it has one
  # that is null (no tags at all).
  condition = try(
    alltrue([for k in ["CostCenter", "Owner"] : contains(keys(change.after.tags_all), k)]),
    !contains(keys(change.after), "tags_all"),
  )
  error_message = "${resource.address} in ${environment} needs the tags CostCenter and Owner (set them in the provider's default_tags, e.g. through var.tags in terraform.tfvars)."
}
