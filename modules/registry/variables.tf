variable "name" {
  description = "Name prefix, e.g. \"terrace-dev\". Repositories are named \"<name>/<repository>\"; the bucket \"<name>-artifacts-<account id>\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,30}$", var.name))
    error_message = "The name must be 1-31 lower-case letters, digits or hyphens (it becomes part of an S3 bucket name)."
  }
}

variable "repositories" {
  description = "Names of the ECR repositories to create, e.g. [\"api\", \"worker\"]."
  type        = set(string)
  default     = []
}

variable "image_tag_mutability" {
  description = "\"MUTABLE\" or \"IMMUTABLE\" image tags."
  type        = string
  default     = "IMMUTABLE"

  validation {
    condition     = contains(["MUTABLE", "IMMUTABLE"], var.image_tag_mutability)
    error_message = "The image_tag_mutability must be \"MUTABLE\" or \"IMMUTABLE\"."
  }
}

variable "scan_on_push" {
  description = "Scan images for vulnerabilities when they are pushed."
  type        = bool
  default     = true
}

variable "untagged_image_expiry_days" {
  description = "Days after which untagged images are expired by the lifecycle policy."
  type        = number
  default     = 14

  validation {
    condition     = var.untagged_image_expiry_days >= 1
    error_message = "The untagged_image_expiry_days must be at least 1."
  }
}

variable "max_image_count" {
  description = "Images kept per repository; older ones beyond this count are expired."
  type        = number
  default     = 200
}

variable "force_delete" {
  description = "Allow destroying repositories that still contain images and a bucket that still holds objects (for short-lived environments)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}

variable "pull_principal_arns" {
  description = "IAM role ARNs allowed to pull from the repositories (the runner and node roles). Every other principal is denied pulling by the repository policy. Empty: no repository policy."
  type        = list(string)
  default     = []
}

variable "kms_deletion_window_in_days" {
  description = "Days a destroyed KMS key waits before it is deleted (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "The kms_deletion_window_in_days must be between 7 and 30."
  }
}

variable "cache_expiry_days" {
  description = "Days after which objects under cache/ in the artifact bucket expire."
  type        = number
  default     = 30
}

variable "noncurrent_version_expiry_days" {
  description = "Days a replaced or deleted artifact version is kept."
  type        = number
  default     = 30
}

variable "access_log_expiry_days" {
  description = "Days the artifact bucket's server access logs are kept."
  type        = number
  default     = 365
}

variable "replication_regions" {
  description = "Regions that receive a replica of every repository of this environment (cross-region ECR replication). Empty: none. The registry holds one replication configuration per account and region, so set this in one environment per account only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.replication_regions : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", r))])
    error_message = "Each replication region must be an AWS region name such as \"eu-west-1\"."
  }
}
