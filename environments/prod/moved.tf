# prod declared its registries and its EKS cluster in this folder until they
# became calls of modules/registry and modules/cluster (main.tf). These blocks
# move the objects of an existing prod state to their module addresses, so the
# change plans no destroy and no create. Keep them while any prod state may
# still hold the old addresses.

# --- Registries (modules/registry) ---

moved {
  from = aws_kms_key.registry
  to   = module.registry.aws_kms_key.this
}

moved {
  from = aws_kms_alias.registry
  to   = module.registry.aws_kms_alias.this
}

moved {
  from = aws_ecr_repository.service
  to   = module.registry.aws_ecr_repository.this
}

moved {
  from = aws_ecr_lifecycle_policy.service
  to   = module.registry.aws_ecr_lifecycle_policy.this
}

moved {
  from = aws_ecr_repository_policy.service
  to   = module.registry.aws_ecr_repository_policy.this
}

moved {
  from = aws_s3_bucket.artifacts
  to   = module.registry.aws_s3_bucket.artifacts
}

moved {
  from = aws_s3_bucket.access_logs
  to   = module.registry.aws_s3_bucket.access_logs
}

moved {
  from = aws_s3_bucket_public_access_block.artifacts
  to   = module.registry.aws_s3_bucket_public_access_block.artifacts
}

moved {
  from = aws_s3_bucket_public_access_block.access_logs
  to   = module.registry.aws_s3_bucket_public_access_block.access_logs
}

moved {
  from = aws_s3_bucket_ownership_controls.artifacts
  to   = module.registry.aws_s3_bucket_ownership_controls.artifacts
}

moved {
  from = aws_s3_bucket_ownership_controls.access_logs
  to   = module.registry.aws_s3_bucket_ownership_controls.access_logs
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.artifacts
  to   = module.registry.aws_s3_bucket_server_side_encryption_configuration.artifacts
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.access_logs
  to   = module.registry.aws_s3_bucket_server_side_encryption_configuration.access_logs
}

moved {
  from = aws_s3_bucket_versioning.artifacts
  to   = module.registry.aws_s3_bucket_versioning.artifacts
}

moved {
  from = aws_s3_bucket_versioning.access_logs
  to   = module.registry.aws_s3_bucket_versioning.access_logs
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.artifacts
  to   = module.registry.aws_s3_bucket_lifecycle_configuration.artifacts
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.access_logs
  to   = module.registry.aws_s3_bucket_lifecycle_configuration.access_logs
}

moved {
  from = aws_s3_bucket_policy.artifacts
  to   = module.registry.aws_s3_bucket_policy.artifacts
}

moved {
  from = aws_s3_bucket_policy.access_logs
  to   = module.registry.aws_s3_bucket_policy.access_logs
}

moved {
  from = aws_s3_bucket_logging.artifacts
  to   = module.registry.aws_s3_bucket_logging.artifacts
}

# --- Cluster (modules/cluster) ---

moved {
  from = aws_kms_key.eks
  to   = module.cluster.aws_kms_key.this
}

moved {
  from = aws_kms_alias.eks
  to   = module.cluster.aws_kms_alias.this
}

moved {
  from = aws_cloudwatch_log_group.eks
  to   = module.cluster.aws_cloudwatch_log_group.this
}

moved {
  from = aws_iam_role.eks_cluster
  to   = module.cluster.aws_iam_role.cluster
}

moved {
  from = aws_iam_role_policy_attachment.eks_cluster
  to   = module.cluster.aws_iam_role_policy_attachment.cluster
}

moved {
  from = aws_iam_role.eks_node
  to   = module.cluster.aws_iam_role.node
}

moved {
  from = aws_iam_role_policy_attachment.eks_node
  to   = module.cluster.aws_iam_role_policy_attachment.node
}

moved {
  from = aws_eks_cluster.main
  to   = module.cluster.aws_eks_cluster.this
}

moved {
  from = aws_iam_openid_connect_provider.eks
  to   = module.cluster.aws_iam_openid_connect_provider.this
}

moved {
  from = aws_iam_role.eks_ebs_csi
  to   = module.cluster.aws_iam_role.ebs_csi
}

moved {
  from = aws_iam_role_policy_attachment.eks_ebs_csi
  to   = module.cluster.aws_iam_role_policy_attachment.ebs_csi
}

moved {
  from = aws_eks_access_entry.eks_admin
  to   = module.cluster.aws_eks_access_entry.admin
}

moved {
  from = aws_eks_access_policy_association.eks_admin
  to   = module.cluster.aws_eks_access_policy_association.admin
}

moved {
  from = aws_launch_template.eks_node
  to   = module.cluster.aws_launch_template.node
}

moved {
  from = aws_eks_node_group.pool
  to   = module.cluster.aws_eks_node_group.this
}

moved {
  from = aws_eks_addon.eks
  to   = module.cluster.aws_eks_addon.this
}
