variable "name" {
  description = "Cluster name, e.g. \"terrace-dev\". Also the prefix of its IAM roles and node group."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,40}$", var.name))
    error_message = "The name must be 1-41 lower-case letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane, e.g. \"1.30\"."
  type        = string
  default     = "1.30"
}

variable "subnet_ids" {
  description = "Subnets for the control plane's network interfaces and the nodes. EKS requires subnets in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "EKS needs subnets in at least two availability zones; pass two or more subnet IDs."
  }
}

variable "endpoint_public_access" {
  description = "Expose the Kubernetes API endpoint publicly."
  type        = bool
  default     = true
}

variable "public_access_cidrs" {
  description = "CIDR blocks allowed to reach the public API endpoint."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["t3.large"]
}

variable "node_capacity_type" {
  description = "\"ON_DEMAND\" or \"SPOT\" nodes."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.node_capacity_type)
    error_message = "The node_capacity_type must be \"ON_DEMAND\" or \"SPOT\"."
  }
}

variable "node_disk_size" {
  description = "Root volume size of a node, in GiB."
  type        = number
  default     = 50
}

variable "node_min_size" {
  description = "Minimum number of nodes."
  type        = number
  default     = 1
}

variable "node_max_size" {
  description = "Maximum number of nodes."
  type        = number
  default     = 3
}

variable "node_desired_size" {
  description = "Number of nodes to start with (between node_min_size and node_max_size)."
  type        = number
  default     = 1
}

variable "node_labels" {
  description = "Kubernetes labels put on every node."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
