variable "region" {
  description = "AWS region of the environment."
  type        = string
  default     = "us-east-1"
}

variable "vpc_cidr" {
  description = "CIDR block of the environment's VPC."
  type        = string
  default     = "10.30.0.0/16"
}

variable "gitlab_url" {
  description = "GitLab instance the runners register with."
  type        = string
  default     = "https://gitlab.com"
}

variable "runner_registration_token" {
  description = "GitLab runner authentication token (glrt-...). terraform.tfvars holds a fake placeholder; pass the real one with --var-file from a secret file."
  type        = string
  sensitive   = true
}

variable "runner_version" {
  description = "Pinned gitlab-runner version for prod runners."
  type        = string
  default     = "17.5.3"
}

variable "runner_instance_type" {
  description = "Instance type of the CI runners."
  type        = string
  default     = "c5.xlarge"
}

variable "runner_min_size" {
  description = "Minimum (and initial) number of CI runners."
  type        = number
  default     = 3
}

variable "runner_max_size" {
  description = "Maximum number of CI runners."
  type        = number
  default     = 12

  validation {
    condition     = var.runner_max_size >= 3
    error_message = "prod keeps at least three runners; runner_max_size must be 3 or more."
  }
}

variable "repositories" {
  description = "ECR repositories (one per service image)."
  type        = set(string)
  default     = ["api", "worker"]
}

variable "untagged_image_expiry_days" {
  description = "Days after which untagged images are expired."
  type        = number
  default     = 14
}

variable "max_image_count" {
  description = "Images kept per repository."
  type        = number
  default     = 500
}

variable "kubernetes_version" {
  description = "Kubernetes version of the EKS control plane."
  type        = string
  default     = "1.30"
}

variable "api_allowed_cidrs" {
  description = "CIDR blocks allowed to reach the public Kubernetes API endpoint."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "node_groups" {
  description = "Managed node groups of the cluster, by name."
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    min_size       = number
    max_size       = number
    desired_size   = number
    labels         = map(string)
  }))
  default = {
    general = {
      instance_types = ["m5.large"]
      capacity_type  = "ON_DEMAND"
      min_size       = 3
      max_size       = 9
      desired_size   = 3
      labels         = { workload = "general" }
    }
    build = {
      instance_types = ["c5.2xlarge", "c5a.2xlarge"]
      capacity_type  = "SPOT"
      min_size       = 0
      max_size       = 6
      desired_size   = 1
      labels         = { workload = "build" }
    }
  }

  validation {
    condition     = alltrue([for ng in values(var.node_groups) : ng.min_size <= ng.desired_size && ng.desired_size <= ng.max_size])
    error_message = "Every node group needs min_size <= desired_size <= max_size."
  }
}

variable "tags" {
  description = "Extra tags for every resource of the environment."
  type        = map(string)
  default     = {}
}
