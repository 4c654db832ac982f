variable "name" {
  description = "Name prefix for every network resource, e.g. \"terrace-dev\". Lower-case letters, digits and hyphens."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,40}$", var.name))
    error_message = "The name must be 1-41 lower-case letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "cidr_block" {
  description = "IPv4 CIDR block of the VPC, e.g. \"10.10.0.0/16\"."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0))
    error_message = "The cidr_block must be a valid IPv4 CIDR block such as \"10.0.0.0/16\"."
  }
}

variable "az_count" {
  description = "How many availability zones to spread subnets over (one subnet per zone). EKS needs at least 2."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 1 && var.az_count <= 6
    error_message = "The az_count must be between 1 and 6."
  }
}

variable "subnet_newbits" {
  description = "Bits added to the VPC prefix for each subnet (4 turns a /16 into /20 subnets)."
  type        = number
  default     = 4
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}

variable "enable_nat_gateway" {
  description = "Give the private subnets a route out through NAT gateways. Without it they reach only the VPC."
  type        = bool
  default     = true
}

variable "single_nat_gateway" {
  description = "One NAT gateway shared by every zone (cheaper; one zone's outage cuts every private subnet off) instead of one per zone."
  type        = bool
  default     = false
}

variable "enable_s3_endpoint" {
  description = "Add an S3 gateway endpoint routed from every route table of the module (free; S3 traffic skips the NAT gateways)."
  type        = bool
  default     = true
}

variable "interface_endpoints" {
  description = "Interface endpoints to add in the private subnets, by service: any of \"ecr.api\", \"ecr.dkr\", \"sts\". Each has private DNS and accepts HTTPS from the VPC only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.interface_endpoints : contains(["ecr.api", "ecr.dkr", "sts"], s)])
    error_message = "The interface_endpoints may only list \"ecr.api\", \"ecr.dkr\" and \"sts\"."
  }
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs to a CloudWatch log group through an IAM role scoped to that group."
  type        = bool
  default     = true
}

variable "flow_logs_retention_in_days" {
  description = "Days CloudWatch keeps the flow logs (0 keeps them forever); a year by default, as audits ask."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_logs_retention_in_days)
    error_message = "The flow_logs_retention_in_days must be one of CloudWatch's retention periods: 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "flow_logs_kms_key_arn" {
  description = "ARN of a KMS key to encrypt the flow-log group with (its key policy must allow the CloudWatch Logs service). Null: the module creates a key (rotation on) that only this flow-log group may use."
  type        = string
  default     = null
}

variable "flow_logs_traffic_type" {
  description = "Which traffic the flow logs record: ACCEPT, REJECT or ALL."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_logs_traffic_type)
    error_message = "The flow_logs_traffic_type must be ACCEPT, REJECT or ALL."
  }
}

variable "flow_logs_max_aggregation_interval" {
  description = "Seconds over which a flow-log record is aggregated: 60 or 600."
  type        = number
  default     = 600

  validation {
    condition     = contains([60, 600], var.flow_logs_max_aggregation_interval)
    error_message = "The flow_logs_max_aggregation_interval must be 60 or 600."
  }
}
