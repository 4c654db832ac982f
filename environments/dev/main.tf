# dev: the smallest full platform environment: one CI runner, a single-node
# EKS cluster, and registries that may be destroyed with their images in them.
#
#   terrace plan  -e dev
#   terrace apply -e dev

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

provider "aws" {
  region = var.region

  # Added to every resource, next to terrace's own ownership tags
  # (terrace:environment, terrace:address).
  default_tags {
    tags = local.tags
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # "terrace-dev": the prefix of every name in this environment, so that other
  # environments in the same account never collide with it.
  name = "terrace-${lower(terrace.environment)}"

  tags = merge(var.tags, {
    Environment = terrace.environment
    ManagedBy   = "terrace"
  })
}

module "network" {
  source = "../../modules/network"

  name       = local.name
  cidr_block = var.vpc_cidr
  az_count   = 2 # EKS needs two availability zones, even in dev
  tags       = { Component = "network" }
}

module "runners" {
  source = "../../modules/runner-pool"

  name             = "${local.name}-runners"
  vpc_id           = module.network.vpc_id
  subnet_ids       = module.network.private_subnet_ids
  instance_type    = var.runner_instance_type
  min_size         = 1
  max_size         = 1
  desired_capacity = 1
  gitlab_url       = var.gitlab_url
  concurrent       = 2

  # The token stays in SSM; the runners read it at boot.
  registration_token_parameter = var.runner_token_parameter

  # Least privilege: this environment's repositories, bucket and key only.
  repository_arns     = values(module.registry.repository_arns)
  artifact_bucket_arn = module.registry.bucket_arn
  kms_key_arns        = [module.registry.kms_key_arn]

  # No runners outside working hours.
  scale_to_zero_outside_working_hours = true
  working_hours_start                 = var.runner_working_hours.start
  working_hours_end                   = var.runner_working_hours.end
  time_zone                           = var.runner_working_hours.time_zone

  tags = { Component = "runners" }
}

module "registry" {
  source = "../../modules/registry"

  name                        = local.name
  repositories                = var.repositories
  image_tag_mutability        = "MUTABLE" # dev re-pushes tags like "latest"
  untagged_image_expiry_days  = 3
  max_image_count             = 30
  force_delete                = true # dev registries hold nothing worth keeping
  kms_deletion_window_in_days = 7

  # Only the runners and the cluster's nodes pull images.
  pull_principal_arns = [module.runners.iam_role_arn, module.cluster.node_role_arn]

  tags = { Component = "registry" }
}

module "cluster" {
  source = "../../modules/cluster"

  name                = local.name
  kubernetes_version  = var.kubernetes_version
  subnet_ids          = module.network.private_subnet_ids
  node_instance_types = ["t3.medium"]
  node_capacity_type  = "SPOT"
  node_min_size       = 1
  node_max_size       = 1
  node_desired_size   = 1
  node_labels         = { environment = terrace.environment }

  # Private API endpoint unless CIDR blocks are listed; admins get in through
  # access entries.
  public_access_cidrs         = var.api_allowed_cidrs
  kms_deletion_window_in_days = 7
  admin_role_arns             = [for r in var.cluster_admin_role_names : "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/${r}"]

  tags = { Component = "cluster" }
}
