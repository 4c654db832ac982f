variable "name" {
  description = "Cluster name, e.g. \"terrace-dev\". Also the prefix of its IAM roles, KMS alias, launch template and node groups."
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
  description = "Private subnets for the control plane's network interfaces and the nodes. EKS requires subnets in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "EKS needs subnets in at least two availability zones; pass two or more subnet IDs."
  }
}

variable "public_access_cidrs" {
  description = "CIDR blocks allowed to reach the Kubernetes API from the internet. Empty (the default): the endpoint is private only, reachable from inside the VPC."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.public_access_cidrs, "0.0.0.0/0")
    error_message = "public_access_cidrs must not contain 0.0.0.0/0: list your office or VPN ranges, or leave it empty for a private endpoint."
  }
}

variable "cluster_log_types" {
  description = "Control-plane log types sent to CloudWatch Logs."
  type        = list(string)
  default     = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
}

variable "log_retention_days" {
  description = "Days the control-plane logs are kept (a CloudWatch Logs retention value)."
  type        = number
  default     = 365
}

variable "kms_deletion_window_in_days" {
  description = "Days a destroyed KMS key waits before it is deleted (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "The kms_deletion_window_in_days must be between 7 and 30."
  }
}

variable "addons" {
  description = "Managed add-ons and their pinned versions (aws eks describe-addon-versions). aws-ebs-csi-driver runs under an IRSA role the module creates."
  type        = map(string)
  default = {
    vpc-cni            = "v1.18.3-eksbuild.1"
    kube-proxy         = "v1.30.0-eksbuild.3"
    coredns            = "v1.11.1-eksbuild.9"
    aws-ebs-csi-driver = "v1.31.0-eksbuild.1"
  }
}

variable "admin_role_arns" {
  description = "IAM roles given cluster-admin access (an access entry with AmazonEKSClusterAdminPolicy each). The creator of the cluster gets no implicit access."
  type        = list(string)
  default     = []
}

variable "node_groups" {
  description = "Managed node groups by name. null: one group \"default\" from the node_* inputs."
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    min_size       = number
    max_size       = number
    desired_size   = number
    labels         = map(string)
  }))
  default = null

  validation {
    condition     = var.node_groups == null ? true : alltrue([for ng in values(var.node_groups) : ng.min_size <= ng.desired_size && ng.desired_size <= ng.max_size && contains(["ON_DEMAND", "SPOT"], ng.capacity_type)])
    error_message = "Every node group needs min_size <= desired_size <= max_size and capacity_type \"ON_DEMAND\" or \"SPOT\"."
  }
}

variable "node_instance_types" {
  description = "Instance types of the default node group."
  type        = list(string)
  default     = ["t3.large"]
}

variable "node_capacity_type" {
  description = "\"ON_DEMAND\" or \"SPOT\" nodes (default node group)."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.node_capacity_type)
    error_message = "The node_capacity_type must be \"ON_DEMAND\" or \"SPOT\"."
  }
}

variable "node_disk_size" {
  description = "Root volume size of a node, in GiB (encrypted gp3, from the launch template)."
  type        = number
  default     = 50
}

variable "node_min_size" {
  description = "Minimum number of nodes (default node group)."
  type        = number
  default     = 1
}

variable "node_max_size" {
  description = "Maximum number of nodes (default node group)."
  type        = number
  default     = 3
}

variable "node_desired_size" {
  description = "Number of nodes to start with (default node group)."
  type        = number
  default     = 1
}

variable "node_labels" {
  description = "Kubernetes labels put on every node of the default node group."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
