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

variable "runner_token_parameter" {
  description = "Name of the SSM SecureString parameter holding the GitLab runner authentication token. Create it once, outside terrace: aws ssm put-parameter --type SecureString --name NAME --value glrt-..."
  type        = string
}

variable "runner_scale_to_zero" {
  description = "Scale the runner pool to zero outside runner_working_hours."
  type        = bool
  default     = false
}

variable "runner_working_hours" {
  description = "Working hours of the runner pool (cron expressions in an IANA time zone), used when runner_scale_to_zero is true."
  type = object({
    start     = string
    end       = string
    time_zone = string
  })
  default = {
    start     = "0 6 * * MON-FRI"
    end       = "0 22 * * MON-FRI"
    time_zone = "Europe/Berlin"
  }
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
  description = "CIDR blocks allowed to reach the Kubernetes API from the internet. Empty (the default): private endpoint only."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.api_allowed_cidrs, "0.0.0.0/0")
    error_message = "prod's API must not be open to 0.0.0.0/0: list your office or VPN ranges, or leave api_allowed_cidrs empty."
  }
}

variable "cluster_admin_role_names" {
  description = "IAM roles (names, in this account) given cluster-admin access through EKS access entries."
  type        = list(string)
  default     = []
}

variable "cluster_log_retention_days" {
  description = "Days the control-plane logs are kept."
  type        = number
  default     = 365
}

variable "cluster_addons" {
  description = "Managed add-ons and their pinned versions."
  type        = map(string)
  default = {
    vpc-cni            = "v1.18.3-eksbuild.1"
    kube-proxy         = "v1.30.0-eksbuild.3"
    coredns            = "v1.11.1-eksbuild.9"
    aws-ebs-csi-driver = "v1.31.0-eksbuild.1"
  }
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
