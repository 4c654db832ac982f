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

variable "runner_registration_token" {
  description = "GitLab runner authentication token (glrt-...). terraform.tfvars holds a fake placeholder; pass the real one with --var-file from a secret file."
  type        = string
  sensitive   = true
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
