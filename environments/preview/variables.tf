variable "region" {
  description = "AWS region of the preview."
  type        = string
  default     = "us-east-1"
}

variable "cidr_block" {
  description = "CIDR block of the preview's VPC (every preview has its own VPC, so they may all use the same range)."
  type        = string
  default     = "10.100.0.0/16"
}

variable "instance_type" {
  description = "Instance type of the preview app host."
  type        = string
  default     = "t3.micro"
}

variable "ami_id" {
  description = "AMI of the app host. null looks up the most recent Amazon Linux 2 image."
  type        = string
  default     = null
}

variable "app_port" {
  description = "TCP port the preview app listens on."
  type        = number
  default     = 8080

  validation {
    condition     = var.app_port > 0 && var.app_port < 65536
    error_message = "The app_port must be a TCP port number (1-65535)."
  }
}

variable "cost_center" {
  description = "CostCenter tag of every resource of the preview."
  type        = string
  default     = "platform-preview"
}

variable "owner" {
  description = "Owner tag of every resource of the preview (the team answering for it)."
  type        = string
  default     = "platform-team"
}
