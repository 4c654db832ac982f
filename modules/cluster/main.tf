# An EKS cluster as a platform team runs it: a private API endpoint (public
# access only from the CIDR blocks given), Kubernetes secrets encrypted with a
# customer-managed KMS key, control-plane logs kept in an encrypted log group,
# an IAM OIDC provider for IRSA, managed add-ons at pinned versions, access
# entries for the admin roles, and managed node groups in the private subnets
# launched from a launch template (IMDSv2 required, encrypted volumes).
#
# Like modules/registry this module sets no prevent_destroy (it must be a
# literal); environments/prod protects its cluster and key with the policy
# "prod-prevent-destroy" (policies/clusters.tf) and max_deletes in terrace.hcl.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id

  node_policy_arns = {
    worker = "arn:${local.partition}:iam::aws:policy/AmazonEKSWorkerNodePolicy"
    cni    = "arn:${local.partition}:iam::aws:policy/AmazonEKS_CNI_Policy"
    # ECR login and EKS's own system images; the environment's repositories
    # grant the node role pull in their repository policies.
    registry = "arn:${local.partition}:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
  }

  # The node groups: the single "default" group of the node_* inputs, or
  # var.node_groups when given.
  node_groups = var.node_groups != null ? var.node_groups : {
    default = {
      instance_types = var.node_instance_types
      capacity_type  = var.node_capacity_type
      min_size       = var.node_min_size
      max_size       = var.node_max_size
      desired_size   = var.node_desired_size
      labels         = var.node_labels
    }
  }

  log_group_name = "/aws/eks/${var.name}/cluster"
  oidc_issuer    = aws_eks_cluster.this.identity[0].oidc[0].issuer
  oidc_host      = replace(local.oidc_issuer, "https://", "")
}

# --- Encryption key (secrets and control-plane logs) -----------------------------

resource "aws_kms_key" "this" {
  description             = "EKS secrets and control-plane logs of ${var.name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days
  # A key policy (Resource "*" is this key): the account administers the
  # key through IAM, and CloudWatch Logs may use it for this cluster's log
  # group only.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsOfThisCluster"
        Effect    = "Allow"
        Principal = { Service = "logs.${data.aws_region.current.name}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnEquals = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${data.aws_region.current.name}:${local.account}:log-group:${local.log_group_name}"
          }
        }
      },
    ]
  })

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-eks"
  target_key_id = aws_kms_key.this.key_id
}

# --- Control-plane logs ------------------------------------------------------------

# Created before the cluster, so that EKS does not create it without retention.
resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  tags = var.tags
}

# --- IAM ------------------------------------------------------------------------

data "aws_iam_policy_document" "cluster_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name               = "${var.name}-eks-cluster"
  description        = "EKS control plane role of ${var.name}"
  assume_role_policy = data.aws_iam_policy_document.cluster_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name               = "${var.name}-eks-node"
  description        = "EKS worker node role of ${var.name}"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = local.node_policy_arns

  role       = aws_iam_role.node.name
  policy_arn = each.value
}

# --- Cluster ----------------------------------------------------------------------

resource "aws_eks_cluster" "this" {
  name     = var.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  vpc_config {
    subnet_ids              = var.subnet_ids
    endpoint_private_access = true
    # Public access only when CIDR blocks are given; none by default.
    endpoint_public_access = length(var.public_access_cidrs) > 0
    public_access_cidrs    = length(var.public_access_cidrs) > 0 ? var.public_access_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.this.arn
    }
  }

  enabled_cluster_log_types = var.cluster_log_types

  access_config {
    authentication_mode = "API"
    # Admins come in through access entries (var.admin_role_arns).
    bootstrap_cluster_creator_admin_permissions = false
  }

  tags = var.tags

  # The control plane needs its policy while it is created and while it is
  # deleted, so the attachment must outlive the cluster on destroy; the log
  # group must exist before EKS writes to it.
  depends_on = [
    aws_iam_role_policy_attachment.cluster,
    aws_cloudwatch_log_group.this,
  ]
}

# --- Workload identity (IRSA) -------------------------------------------------------

resource "aws_iam_openid_connect_provider" "this" {
  url            = local.oidc_issuer
  client_id_list = ["sts.amazonaws.com"]
  # The root CA of EKS's OIDC issuers (IAM no longer checks it for EKS, but
  # older accounts require one).
  thumbprint_list = ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]

  tags = var.tags
}

data "aws_iam_policy_document" "ebs_csi_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = ["system:serviceaccount:kube-system:ebs-csi-controller-sa"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ebs_csi" {
  name               = "${var.name}-ebs-csi"
  description        = "EBS CSI controller of ${var.name} (IRSA)"
  assume_role_policy = data.aws_iam_policy_document.ebs_csi_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

# --- Access -------------------------------------------------------------------------

resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.admin_role_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"

  tags = var.tags
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = aws_eks_access_entry.admin

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value.principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

# --- Nodes --------------------------------------------------------------------------

resource "aws_launch_template" "node" {
  name                   = "${var.name}-node"
  description            = "EKS managed nodes of ${var.name}"
  update_default_version = true

  # IMDSv2 only, one hop: pods cannot reach the node's credentials.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.node_disk_size
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-node" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.name}-node" })
  }

  tags = var.tags
}

resource "aws_eks_node_group" "this" {
  for_each = local.node_groups

  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "${var.name}-${each.key}"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.subnet_ids
  instance_types  = each.value.instance_types
  capacity_type   = each.value.capacity_type

  launch_template {
    id      = aws_launch_template.node.id
    version = aws_launch_template.node.latest_version
  }

  scaling_config {
    min_size     = each.value.min_size
    max_size     = each.value.max_size
    desired_size = each.value.desired_size
  }

  update_config {
    max_unavailable = 1
  }

  labels = merge(each.value.labels, {
    node-group = each.key
  })

  tags = var.tags

  # Nodes cannot join the cluster without these policies.
  depends_on = [aws_iam_role_policy_attachment.node]
}

# --- Add-ons ------------------------------------------------------------------------

resource "aws_eks_addon" "this" {
  for_each = var.addons

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.key
  addon_version               = each.value
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  service_account_role_arn    = each.key == "aws-ebs-csi-driver" ? aws_iam_role.ebs_csi.arn : null

  tags = var.tags

  # coredns and the EBS CSI controller only become ACTIVE once nodes run.
  depends_on = [aws_eks_node_group.this]
}

# Before the module took several node groups, its one group was
# aws_eks_node_group.default.
moved {
  from = aws_eks_node_group.default
  to   = aws_eks_node_group.this["default"]
}
