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

# prod's registries and clusters cannot be destroyed by a plan: the resource
# block must say lifecycle { prevent_destroy = true } (removing it is then a
# reviewed change of its own).
policy "prod-prevent-destroy" {
  environments   = ["prod"]
  resource_types = ["aws_ecr_repository", "aws_eks_cluster"]
  enforcement    = "deny"

  condition     = resource.lifecycle.prevent_destroy
  error_message = "${resource.address} in prod needs lifecycle { prevent_destroy = true }."
}
