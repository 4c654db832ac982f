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

  name               = "${local.name}-runners"
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids
  instance_type      = var.runner_instance_type
  min_size           = var.runner_min_size
  max_size           = var.runner_max_size
  desired_capacity   = var.runner_min_size
  gitlab_url         = var.gitlab_url
  registration_token = var.runner_registration_token
  runner_version     = var.runner_version
  concurrent         = 4

  # prod runners publish release images.
  extra_policy_arns = ["arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser"]

  tags = { Component = "runners" }
}
