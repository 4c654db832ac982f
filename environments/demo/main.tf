# demo: the quickstart environment (see examples/quickstart.md). Small and
# quick, also against a local moto endpoint: a VPC with two subnets, a
# security group, two runner instances, an ECR repository with a lifecycle
# policy and a versioned S3 bucket.
#
#   terrace plan  -e demo
#   terrace apply -e demo --auto-approve
#   terrace drift -e demo

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

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_ami" "amazon_linux" {
  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["amzn2-ami-hvm-*-x86_64-gp2"]
  }
}

data "aws_caller_identity" "current" {}

locals {
  name = "terrace-${lower(terrace.environment)}"

  tags = merge(var.tags, {
    Environment = terrace.environment
    ManagedBy   = "terrace"
  })

  # Inbound rules of the runners' security group, by name.
  ingress_rules = {
    ssh     = { port = 22, cidr_blocks = var.admin_cidr_blocks }
    metrics = { port = 9252, cidr_blocks = [var.vpc_cidr] } # gitlab-runner's Prometheus endpoint
  }
}

# --- Network ------------------------------------------------------------------

resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "runners" {
  count = 2

  vpc_id            = aws_vpc.main.id
  availability_zone = data.aws_availability_zones.available.names[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 8, count.index) # 10.0.0.0/24, 10.0.1.0/24

  tags = merge(local.tags, {
    Name = "${local.name}-runners-${count.index}"
  })
}

resource "aws_security_group" "runners" {
  name        = "${local.name}-runners"
  description = "Demo CI runners"
  vpc_id      = aws_vpc.main.id

  dynamic "ingress" {
    for_each = local.ingress_rules
    content {
      description = ingress.key
      from_port   = ingress.value.port
      to_port     = ingress.value.port
      protocol    = "tcp"
      cidr_blocks = ingress.value.cidr_blocks
    }
  }

  egress {
    description = "All outbound traffic"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(local.tags, { Name = "${local.name}-runners" })
}

# --- Runners --------------------------------------------------------------------

resource "aws_instance" "runner" {
  count = var.runner_count

  ami                    = data.aws_ami.amazon_linux.id
  instance_type          = var.instance_type
  subnet_id              = aws_subnet.runners[count.index % length(aws_subnet.runners)].id
  vpc_security_group_ids = [aws_security_group.runners.id]

  # IMDSv2 only: a token is required to read instance metadata, so the
  # instance role's credentials cannot be fetched by a plain GET (SSRF).
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  user_data = templatefile("${path.module}/runner.sh.tftpl", {
    environment = terrace.environment
    index       = count.index
    registry    = aws_ecr_repository.app.repository_url
    bucket      = aws_s3_bucket.artifacts.id
  })

  tags = merge(local.tags, {
    Name = format("%s-runner-%02d", local.name, count.index + 1)
    Role = "ci-runner"
  })
}

# --- Registry -------------------------------------------------------------------

resource "aws_ecr_repository" "app" {
  name                 = "${local.name}/app"
  image_tag_mutability = "MUTABLE"
  force_delete         = true

  image_scanning_configuration {
    scan_on_push = true
  }

  tags = local.tags
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name

  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Expire untagged images after 7 days"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = 7
      }
      action = { type = "expire" }
    }]
  })
}

resource "aws_s3_bucket" "artifacts" {
  bucket        = "${local.name}-artifacts-${data.aws_caller_identity.current.account_id}"
  force_destroy = true

  tags = local.tags
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}
