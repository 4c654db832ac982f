# prod: the full-size platform. The network and the CI runner pool come from
# the shared modules; the registries (registry.tf) and the EKS cluster
# (cluster.tf) are declared directly in this environment so that they can carry
# lifecycle { prevent_destroy = true }: Terraform-style lifecycle settings must
# be literal, so a module cannot switch them on for prod only.
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

  # Least privilege: prod's repositories, bucket and key only (registry.tf).
  repository_arns     = [for r in aws_ecr_repository.service : r.arn]
  artifact_bucket_arn = aws_s3_bucket.artifacts.arn
  kms_key_arns        = [aws_kms_key.registry.arn]

  # prod runners run around the clock unless told otherwise.
  scale_to_zero_outside_working_hours = var.runner_scale_to_zero
  working_hours_start                 = var.runner_working_hours.start
  working_hours_end                   = var.runner_working_hours.end
  time_zone                           = var.runner_working_hours.time_zone

  tags = { Component = "runners" }
}
