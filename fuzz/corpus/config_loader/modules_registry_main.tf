# The artifact side of an environment: one ECR repository per service image,
# each with a lifecycle policy, and a versioned S3 bucket for build artifacts
# and CI caches.
#
# The module deliberately sets no lifecycle { prevent_destroy } (Terraform does
# not allow it to come from a variable); environments/prod declares its
# registry resources directly, with prevent_destroy = true.

data "aws_caller_identity" "current" {}

locals {
  # Shared by every repository of the module.
  lifecycle_policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images after ${var.untagged_image_expiry_days} days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.untagged_image_expiry_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep at most ${var.max_image_count} images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.max_image_count
        }
        action = { type = "expire" }
      },
    ]
  })
}

resource "aws_ecr_repository" "this" {
  for_each = var.repositories

  name                 = "${var.name}/${each.key}"
  image_tag_mutability = var.image_tag_mutability
  force_delete         = var.force_delete

  image_scanning_configuration {
    scan_on_push = var.scan_on_push
  }

  tags = merge(var.tags, {
    Name = "${var.name}/${each.key}"
  })
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy     = local.lifecycle_policy
}

resource "aws_s3_bucket" "artifacts" {
  # Bucket names are global across all AWS accounts: the account ID keeps the
  # name unique, the environment-derived prefix keeps environments apart.
  bucket        = "${var.name}-artifacts-${data.aws_caller_identity.current.account_id}"
  force_destroy = var.force_delete

  tags = merge(var.tags, {
    Name    = "${var.name}-artifacts"
    Purpose = "ci-artifacts-and-cache"
  })
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}
