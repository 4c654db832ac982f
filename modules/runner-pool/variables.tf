variable "name" {
  description = "Name prefix for the pool's resources, e.g. \"terrace-dev-runners\". Also the runner name shown in GitLab."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,40}$", var.name))
    error_message = "The name must be 1-41 lower-case letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "vpc_id" {
  description = "VPC the runners' security group belongs to."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets the autoscaling group launches runners into (spread over availability zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "At least one subnet ID is required."
  }
}

variable "instance_type" {
  description = "EC2 instance type of a runner."
  type        = string
  default     = "t3.medium"
}

variable "ami_id" {
  description = "AMI for the runners. null looks up the most recent Amazon Linux 2 (x86_64, gp2) image owned by Amazon."
  type        = string
  default     = null
}

variable "min_size" {
  description = "Minimum number of runners."
  type        = number
  default     = 1
}

variable "max_size" {
  description = "Maximum number of runners."
  type        = number
  default     = 2
}

variable "desired_capacity" {
  description = "Number of runners to start with (between min_size and max_size)."
  type        = number
  default     = 1
}

variable "gitlab_url" {
  description = "URL of the GitLab instance the runners register with."
  type        = string
  default     = "https://gitlab.com"
}

variable "registration_token" {
  description = "Runner authentication token (glrt-...) created in GitLab under CI/CD > Runners. Never printed."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.registration_token) >= 8
    error_message = "The registration_token looks too short to be a GitLab runner token."
  }
}

variable "runner_version" {
  description = "gitlab-runner package version to install, or \"latest\"."
  type        = string
  default     = "latest"
}

variable "executor" {
  description = "gitlab-runner executor."
  type        = string
  default     = "docker"

  validation {
    condition     = contains(["docker", "shell"], var.executor)
    error_message = "The executor must be \"docker\" or \"shell\"."
  }
}

variable "default_image" {
  description = "Default job image for the docker executor."
  type        = string
  default     = "alpine:3.20"
}

variable "concurrent" {
  description = "Jobs one runner instance runs at the same time."
  type        = number
  default     = 2
}

variable "ssh_ingress_cidr_blocks" {
  description = "CIDR blocks allowed to reach the runners on SSH (port 22). Empty: no inbound access at all."
  type        = list(string)
  default     = []
}

variable "extra_policy_arns" {
  description = "Additional IAM policy ARNs to attach to the runners' role (e.g. to push to ECR)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource of the module (and propagated to the runner instances)."
  type        = map(string)
  default     = {}
}
