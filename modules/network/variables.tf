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
