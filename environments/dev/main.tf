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

  name               = "${local.name}-runners"
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids
  instance_type      = var.runner_instance_type
  min_size           = 1
  max_size           = 1
  desired_capacity   = 1
  gitlab_url         = var.gitlab_url
  registration_token = var.runner_registration_token
  concurrent         = 2

  # dev runners push the images they build.
  extra_policy_arns = ["arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser"]

  tags = { Component = "runners" }
}

module "registry" {
  source = "../../modules/registry"

  name                       = local.name
  repositories               = var.repositories
  image_tag_mutability       = "MUTABLE" # dev re-pushes tags like "latest"
  untagged_image_expiry_days = 3
  max_image_count            = 30
  force_delete               = true # dev registries hold nothing worth keeping

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

  tags = { Component = "cluster" }
}
