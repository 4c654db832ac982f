# prod: the full-size platform, from the same shared modules as dev and stage
# (network, runner-pool, registry, cluster) at prod's sizes.
#
# Protection: Terraform requires a literal lifecycle { prevent_destroy }, so a
# module input cannot switch it on for prod only. prod is protected by what
# terrace enforces on the plan instead: the shipped policy
# "prod-prevent-destroy" (policies/clusters.tf) denies any plan that deletes or
# replaces a registry repository, bucket, KMS key or the cluster here, and
# terrace.hcl's environment "prod" refuses any plan that deletes anything
# (max_deletes = 0) unless --allow-destructive is given and recorded.
# moved.tf keeps the state addresses of the earlier prod (which declared the
# registries and the cluster in this folder) pointing at the same objects.
#
#   terrace plan  -e prod -out prod.tfplan
#   terrace apply prod.tfplan

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
  # "terrace-prod": the prefix of every name in this environment.
  name = "terrace-${lower(terrace.environment)}"

  tags = merge(var.tags, {
    Environment = terrace.environment
    ManagedBy   = "terrace"
    Criticality = "high"
  })

  cluster_admin_role_arns = [for r in var.cluster_admin_role_names : "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/${r}"]
}

module "network" {
  source = "../../modules/network"

  name       = local.name
  cidr_block = var.vpc_cidr
  az_count   = 3
  tags       = { Component = "network" }
}

module "runners" {
  source = "../../modules/runner-pool"

  name             = "${local.name}-runners"
  vpc_id           = module.network.vpc_id
  subnet_ids       = module.network.private_subnet_ids
  instance_type    = var.runner_instance_type
  min_size         = var.runner_min_size
  max_size         = var.runner_max_size
  desired_capacity = var.runner_min_size
  gitlab_url       = var.gitlab_url
  runner_version   = var.runner_version
  concurrent       = 4

  # The token stays in SSM; the runners read it at boot.
  registration_token_parameter = var.runner_token_parameter

  # Least privilege: prod's repositories, bucket and key only.
  repository_arns     = values(module.registry.repository_arns)
  artifact_bucket_arn = module.registry.bucket_arn
  kms_key_arns        = [module.registry.kms_key_arn]

  # prod runners run around the clock unless told otherwise.
  scale_to_zero_outside_working_hours = var.runner_scale_to_zero
  working_hours_start                 = var.runner_working_hours.start
  working_hours_end                   = var.runner_working_hours.end
  time_zone                           = var.runner_working_hours.time_zone

  tags = { Component = "runners" }
}

module "registry" {
  source = "../../modules/registry"

  name                           = local.name
  repositories                   = var.repositories
  image_tag_mutability           = "IMMUTABLE"
  untagged_image_expiry_days     = var.untagged_image_expiry_days
  max_image_count                = var.max_image_count
  force_delete                   = false
  noncurrent_version_expiry_days = 90

  # Only the runners and the cluster's nodes pull images.
  pull_principal_arns = [module.runners.iam_role_arn, module.cluster.node_role_arn]

  tags = { Component = "registry" }
}

module "cluster" {
  source = "../../modules/cluster"

  name                = local.name
  kubernetes_version  = var.kubernetes_version
  subnet_ids          = module.network.private_subnet_ids
  log_retention_days  = var.cluster_log_retention_days
  addons              = var.cluster_addons
  node_disk_size      = 100
  public_access_cidrs = var.api_allowed_cidrs
  admin_role_arns     = local.cluster_admin_role_arns

  # Several node groups, each labelled with the environment.
  node_groups = {
    for key, ng in var.node_groups : key => merge(ng, {
      labels = merge(ng.labels, { environment = terrace.environment })
    })
  }

  tags = { Component = "cluster" }
}
