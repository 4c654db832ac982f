variable "region" {
  description = "AWS region of the environment."
  type        = string
  default     = "us-east-1"
}

variable "vpc_cidr" {
  description = "CIDR block of the environment's VPC."
  type        = string
  default     = "10.10.0.0/16"
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

variable "runner_working_hours" {
  description = "When the runners run: cron expressions of the start and end of working hours, in an IANA time zone. Outside them the pool scales to zero."
  type = object({
    start     = string
    end       = string
    time_zone = string
  })
  default = {
    start     = "0 7 * * MON-FRI"
    end       = "0 20 * * MON-FRI"
    time_zone = "Europe/Berlin"
  }
}

variable "api_allowed_cidrs" {
  description = "CIDR blocks allowed to reach the Kubernetes API from the internet. Empty: private endpoint only."
  type        = list(string)
  default     = []
}

variable "cluster_admin_role_names" {
  description = "IAM roles (names, in this account) given cluster-admin access through EKS access entries."
  type        = list(string)
  default     = []
}

variable "runner_instance_type" {
  description = "Instance type of the CI runners."
  type        = string
  default     = "t3.medium"
}

variable "repositories" {
  description = "ECR repositories (one per service image)."
  type        = set(string)
  default     = ["api", "worker"]
}

variable "kubernetes_version" {
  description = "Kubernetes version of the EKS control plane."
  type        = string
  default     = "1.30"
}

variable "tags" {
  description = "Extra tags for every resource of the environment."
  type        = map(string)
  default     = {}
}
