variable "region" {
  description = "AWS region of the demo."
  type        = string
  default     = "us-east-1"
}

variable "vpc_cidr" {
  description = "CIDR block of the demo VPC."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "The vpc_cidr must be a valid IPv4 CIDR block such as \"10.0.0.0/16\"."
  }
}

variable "runner_count" {
  description = "Number of runner instances."
  type        = number
  default     = 2

  validation {
    condition     = var.runner_count >= 0 && var.runner_count <= 10
    error_message = "The runner_count must be between 0 and 10."
  }
}

variable "instance_type" {
  description = "Instance type of the runners."
  type        = string
  default     = "t3.micro"
}

variable "admin_cidr_blocks" {
  description = "CIDR blocks allowed to SSH into the runners."
  type        = list(string)
  default     = ["203.0.113.0/24"] # TEST-NET-3, a documentation range: replace with your office/VPN range
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
