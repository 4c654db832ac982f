# preview: the template of short-lived per-merge-request environments.
#
#   terrace env create pr-42 --from preview --ttl 4h --auto-approve
#   terrace output -e pr-42 --format json
#   terrace env destroy pr-42 --auto-approve
#
# Deliberately small (no EKS, no autoscaling) so that it is created and
# destroyed in a minute or two. Every name derives from terrace.environment
# ("pr-42"), so any number of previews coexist in one account and region.

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_ami" "amazon_linux" {
  count = var.ami_id == null ? 1 : 0

  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["amzn2-ami-hvm-*-x86_64-gp2"]
  }
}

locals {
  # DNS-safe form of the environment name ("PR_42" -> "pr-42"), at most 32
  # characters so that the bucket name stays within S3's 63.
  env  = substr(lower(replace(terrace.environment, "_", "-")), 0, 32)
  name = "terrace-${local.env}"

  ami_id = var.ami_id != null ? var.ami_id : data.aws_ami.amazon_linux[0].id

  # CostCenter and Owner as in dev, stage and prod, so that previews show
  # up in cost reports next to the long-lived environments.
  tags = {
    Environment = terrace.environment
    Ephemeral   = "true"
    ManagedBy   = "terrace"
    CostCenter  = var.cost_center
    Owner       = var.owner
  }
}

resource "aws_vpc" "preview" {
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "preview" {
  vpc_id            = aws_vpc.preview.id
  cidr_block        = cidrsubnet(var.cidr_block, 8, 0)
  availability_zone = data.aws_availability_zones.available.names[0]

  tags = merge(local.tags, { Name = "${local.name}-app" })
}

resource "aws_security_group" "app" {
  name        = "${local.name}-app"
  description = "Preview app of ${terrace.environment}: HTTP from inside the VPC"
  vpc_id      = aws_vpc.preview.id

  ingress {
    description = "App traffic from inside the VPC"
    from_port   = var.app_port
    to_port     = var.app_port
    protocol    = "tcp"
    cidr_blocks = [var.cidr_block]
  }

  egress {
    description = "All outbound traffic"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(local.tags, { Name = "${local.name}-app" })
}

resource "aws_ecr_repository" "app" {
  name                 = "${local.name}/app"
  image_tag_mutability = "MUTABLE"
  force_delete         = true # a preview's images die with it

  image_scanning_configuration {
    scan_on_push = false
  }

  tags = local.tags
}

resource "aws_s3_bucket" "artifacts" {
  bucket        = "${local.name}-artifacts-${data.aws_caller_identity.current.account_id}"
  force_destroy = true # a preview's artifacts die with it

  tags = local.tags
}

resource "aws_instance" "app" {
  ami                    = local.ami_id
  instance_type          = var.instance_type
  subnet_id              = aws_subnet.preview.id
  vpc_security_group_ids = [aws_security_group.app.id]

  # IMDSv2 only: a token is required to read instance metadata, so the
  # instance role's credentials cannot be fetched by a plain GET (SSRF).
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  # Runs the image the merge request's pipeline pushes as :latest.
  user_data = <<-EOT
    #!/bin/bash
    set -euo pipefail
    yum install -y docker
    systemctl enable --now docker
    echo "preview ${terrace.environment}: waiting for ${aws_ecr_repository.app.repository_url}:latest"
  EOT

  tags = merge(local.tags, { Name = "${local.name}-app" })
}
