# prod's EKS cluster: the same shape as modules/cluster (private endpoint,
# KMS secrets encryption, control-plane logs, OIDC provider, pinned add-ons,
# access entries, node groups from an IMDSv2-only launch template with
# encrypted volumes), declared directly so that the control plane and its key
# are protected from destroy, and with several node groups (var.node_groups).
# Keep it in step with modules/cluster/main.tf.

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  eks_node_policy_arns = {
    worker = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonEKSWorkerNodePolicy"
    cni    = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonEKS_CNI_Policy"
    # ECR login and EKS's own system images; the environment's repositories
    # grant the node role pull in their repository policies.
    registry = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
  }

  eks_log_group_name = "/aws/eks/${local.name}/cluster"
  eks_oidc_issuer    = aws_eks_cluster.main.identity[0].oidc[0].issuer
  eks_oidc_host      = replace(local.eks_oidc_issuer, "https://", "")
}

# --- Encryption key (secrets and control-plane logs) -----------------------------

resource "aws_kms_key" "eks" {
  description             = "EKS secrets and control-plane logs of ${local.name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # A key policy (Resource "*" is this key): the account administers the
  # key through IAM, and CloudWatch Logs may use it for this cluster's log
  # group only.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
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
            "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:${local.eks_log_group_name}"
          }
        }
      },
    ]
  })

  tags = { Component = "cluster" }

  # Losing the key makes every secret of the cluster unreadable.
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "eks" {
  name          = "alias/${local.name}-eks"
  target_key_id = aws_kms_key.eks.key_id
}

# --- Control-plane logs ------------------------------------------------------------

# Created before the cluster, so that EKS does not create it without retention.
resource "aws_cloudwatch_log_group" "eks" {
  name              = local.eks_log_group_name
  retention_in_days = var.cluster_log_retention_days
  kms_key_id        = aws_kms_key.eks.arn

  tags = { Component = "cluster" }
}

# --- IAM ------------------------------------------------------------------------

data "aws_iam_policy_document" "eks_cluster_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "eks_cluster" {
  name               = "${local.name}-eks-cluster"
  description        = "EKS control plane role of ${local.name}"
  assume_role_policy = data.aws_iam_policy_document.eks_cluster_assume.json

  tags = { Component = "cluster" }
}

resource "aws_iam_role_policy_attachment" "eks_cluster" {
  role       = aws_iam_role.eks_cluster.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

data "aws_iam_policy_document" "eks_node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "eks_node" {
  name               = "${local.name}-eks-node"
  description        = "EKS worker node role of ${local.name}"
  assume_role_policy = data.aws_iam_policy_document.eks_node_assume.json

  tags = { Component = "cluster" }
}

resource "aws_iam_role_policy_attachment" "eks_node" {
  for_each = local.eks_node_policy_arns

  role       = aws_iam_role.eks_node.name
  policy_arn = each.value
}

# --- Cluster ----------------------------------------------------------------------

resource "aws_eks_cluster" "main" {
  name     = local.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.eks_cluster.arn

  vpc_config {
    subnet_ids              = module.network.private_subnet_ids
    endpoint_private_access = true
    # Public access only when CIDR blocks are given; none by default.
    endpoint_public_access = length(var.api_allowed_cidrs) > 0
    public_access_cidrs    = length(var.api_allowed_cidrs) > 0 ? var.api_allowed_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.eks.arn
    }
  }

  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  access_config {
    authentication_mode = "API"
    # Admins come in through access entries (local.cluster_admin_role_arns).
    bootstrap_cluster_creator_admin_permissions = false
  }

  tags = { Component = "cluster" }

  lifecycle {
    prevent_destroy = true
  }

  # The control plane needs its policy while it is created and while it is
  # deleted, so the attachment must outlive the cluster on destroy; the log
  # group must exist before EKS writes to it.
  depends_on = [
    aws_iam_role_policy_attachment.eks_cluster,
    aws_cloudwatch_log_group.eks,
  ]
}

# --- Workload identity (IRSA) -------------------------------------------------------

resource "aws_iam_openid_connect_provider" "eks" {
  url            = local.eks_oidc_issuer
  client_id_list = ["sts.amazonaws.com"]
  # The root CA of EKS's OIDC issuers (IAM no longer checks it for EKS, but
  # older accounts require one).
  thumbprint_list = ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]

  tags = { Component = "cluster" }
}

data "aws_iam_policy_document" "eks_ebs_csi_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.eks.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.eks_oidc_host}:sub"
      values   = ["system:serviceaccount:kube-system:ebs-csi-controller-sa"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.eks_oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "eks_ebs_csi" {
  name               = "${local.name}-ebs-csi"
  description        = "EBS CSI controller of ${local.name} (IRSA)"
  assume_role_policy = data.aws_iam_policy_document.eks_ebs_csi_assume.json

  tags = { Component = "cluster" }
}

resource "aws_iam_role_policy_attachment" "eks_ebs_csi" {
  role       = aws_iam_role.eks_ebs_csi.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

# --- Access -------------------------------------------------------------------------

resource "aws_eks_access_entry" "eks_admin" {
  for_each = toset(local.cluster_admin_role_arns)

  cluster_name  = aws_eks_cluster.main.name
  principal_arn = each.value
  type          = "STANDARD"

  tags = { Component = "cluster" }
}

resource "aws_eks_access_policy_association" "eks_admin" {
  for_each = aws_eks_access_entry.eks_admin

  cluster_name  = aws_eks_cluster.main.name
  principal_arn = each.value.principal_arn
  policy_arn    = "arn:${data.aws_partition.current.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

# --- Nodes --------------------------------------------------------------------------

resource "aws_launch_template" "eks_node" {
  name                   = "${local.name}-node"
  description            = "EKS managed nodes of ${local.name}"
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
      volume_size           = 100
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = { Component = "cluster", Name = "${local.name}-node" }
  }

  tag_specifications {
    resource_type = "volume"
    tags          = { Component = "cluster", Name = "${local.name}-node" }
  }

  tags = { Component = "cluster" }
}

resource "aws_eks_node_group" "pool" {
  for_each = var.node_groups

  cluster_name    = aws_eks_cluster.main.name
  node_group_name = "${local.name}-${each.key}"
  node_role_arn   = aws_iam_role.eks_node.arn
  subnet_ids      = module.network.private_subnet_ids
  instance_types  = each.value.instance_types
  capacity_type   = each.value.capacity_type

  launch_template {
    id      = aws_launch_template.eks_node.id
    version = aws_launch_template.eks_node.latest_version
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
    node-group  = each.key
    environment = terrace.environment
  })

  tags = { Component = "cluster" }

  # Nodes cannot join the cluster without these policies.
  depends_on = [aws_iam_role_policy_attachment.eks_node]
}

# --- Add-ons ------------------------------------------------------------------------

resource "aws_eks_addon" "eks" {
  for_each = var.cluster_addons

  cluster_name                = aws_eks_cluster.main.name
  addon_name                  = each.key
  addon_version               = each.value
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  service_account_role_arn    = each.key == "aws-ebs-csi-driver" ? aws_iam_role.eks_ebs_csi.arn : null

  tags = { Component = "cluster" }

  # coredns and the EBS CSI controller only become ACTIVE once nodes run.
  depends_on = [aws_eks_node_group.pool]
}
