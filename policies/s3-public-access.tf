# Every S3 bucket blocks public access. A bucket is one resource and its
# public access block another, so the policy looks through the plan for an
# aws_s3_bucket_public_access_block that refers to the bucket (its `bucket`
# argument is the bucket's id or name, so it depends on the bucket's block)
# with all four settings on. A block managed elsewhere (another environment,
# or set account-wide) is not seen: such buckets fail this policy, so set
# enforcement to "warn" where that is how public access is blocked. dev is
# left out: it is the sandbox the quickstart demo plans.
policy "s3-public-access-blocked" {
  environments   = ["stage", "prod", "pr-*"]
  resource_types = ["aws_s3_bucket"]
  enforcement    = "deny"

  condition = anytrue([
    for r in plan.resource_changes :
    r.type == "aws_s3_bucket_public_access_block"
    && contains(r.depends_on, resource.block_address)
    && try(r.after.block_public_acls && r.after.block_public_policy && r.after.ignore_public_acls && r.after.restrict_public_buckets, false)
  ])
  error_message = "${resource.address} has no aws_s3_bucket_public_access_block with block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets all true; add one with bucket = ${resource.address}.id."
}
