# prod's Kubernetes API: reachable privately from the VPC, and not open to
# the whole internet when the public endpoint is on.
policy "eks-private-endpoint" {
  environments   = ["prod"]
  resource_types = ["aws_eks_cluster"]
  enforcement    = "deny"

  condition = alltrue([
    for v in change.after.vpc_config :
    v.endpoint_private_access && (!v.endpoint_public_access || !contains(coalesce(v.public_access_cidrs, ["0.0.0.0/0"]), "0.0.0.0/0"))
  ])
  error_message = "${resource.address} in prod must have endpoint_private_access = true, and either endpoint_public_access = false or public_access_cidrs without 0.0.0.0/0."
}

# prod's registries, their buckets and keys, and its cluster are never
# destroyed or replaced by a plan. Terraform's lifecycle { prevent_destroy }
# must be a literal, so the shared modules cannot set it for prod only; this
# policy protects them wherever they are declared (in prod's module calls).
# A pure delete and a replacement both carry the "delete" action. Removing
# one of them from prod is a reviewed change of this file.
policy "prod-prevent-destroy" {
  environments   = ["prod"]
  resource_types = ["aws_ecr_repository", "aws_s3_bucket", "aws_kms_key", "aws_eks_cluster"]
  actions        = ["delete"]
  enforcement    = "deny"

  condition     = !contains(change.actions, "delete")
  error_message = "${resource.address} in prod would be ${length(change.actions) > 1 ? "replaced" : "destroyed"}: prod's registries, buckets, keys and cluster are protected (policies/clusters.tf). Change the plan so it keeps them, or remove the protection in a reviewed change first."
}
