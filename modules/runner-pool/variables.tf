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

variable "registration_token_parameter" {
  description = "Name of the SSM SecureString parameter holding the GitLab runner authentication token (glrt-...), e.g. \"/terrace/dev/gitlab-runner-token\". Created outside terrace; the instances read it at boot."
  type        = string

  validation {
    condition     = can(regex("^/?[A-Za-z0-9_.\\-/]{1,1011}$", var.registration_token_parameter)) && !startswith(var.registration_token_parameter, "glrt-")
    error_message = "The registration_token_parameter must be the NAME of an SSM parameter (letters, digits, _.-/), e.g. \"/terrace/dev/gitlab-runner-token\" — never the token itself."
  }
}

variable "registration_token_kms_key_arn" {
  description = "ARN of the KMS key the token parameter is encrypted with. null: AWS's managed aws/ssm key."
  type        = string
  default     = null
}

variable "repository_arns" {
  description = "ECR repositories the runners may push to and pull from (the environment's own)."
  type        = list(string)
  default     = []
}

variable "artifact_bucket_arn" {
  description = "ARN of the S3 bucket the runners read and write artifacts and caches in. null: no bucket access."
  type        = string
  default     = null
}

variable "kms_key_arns" {
  description = "KMS keys the runners encrypt and decrypt artifacts with (the artifact bucket's SSE-KMS key)."
  type        = list(string)
  default     = []
}

variable "root_volume_size" {
  description = "Root volume of a runner, in GiB (encrypted gp3)."
  type        = number
  default     = 50
}

variable "scale_to_zero_outside_working_hours" {
  description = "Scale the pool to zero at the end of working hours and back at their start (two scheduled actions)."
  type        = bool
  default     = false
}

variable "working_hours_start" {
  description = "Cron expression (minute hour day month weekday) of the start of working hours, in time_zone."
  type        = string
  default     = "0 7 * * MON-FRI"
}

variable "working_hours_end" {
  description = "Cron expression of the end of working hours, in time_zone."
  type        = string
  default     = "0 19 * * MON-FRI"
}

variable "time_zone" {
  description = "IANA time zone of the working-hours schedule, e.g. \"Europe/Berlin\"."
  type        = string
  default     = "Etc/UTC"
}

variable "target_cpu_utilization" {
  description = "Average CPU utilisation (percent) the target-tracking policy keeps the pool at."
  type        = number
  default     = 60

  validation {
    condition     = var.target_cpu_utilization > 0 && var.target_cpu_utilization <= 100
    error_message = "The target_cpu_utilization must be a percentage between 1 and 100."
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
  description = "Additional IAM policy ARNs to attach to the runners' role. The module's own policy already grants push/pull to repository_arns and the artifact bucket."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource of the module (and propagated to the runner instances)."
  type        = map(string)
  default     = {}
}

variable "refresh_min_healthy_percentage" {
  description = "During an instance refresh (a new launch template version), the share of runners kept in service, in percent."
  type        = number
  default     = 50

  validation {
    condition     = var.refresh_min_healthy_percentage >= 0 && var.refresh_min_healthy_percentage <= 100
    error_message = "refresh_min_healthy_percentage is a percentage: 0 to 100."
  }
}
