output "name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.this.name
}

output "arn" {
  description = "ARN of the EKS cluster."
  value       = aws_eks_cluster.this.arn
}

output "endpoint" {
  description = "URL of the Kubernetes API server."
  value       = aws_eks_cluster.this.endpoint
}

output "version" {
  description = "Kubernetes version of the control plane."
  value       = aws_eks_cluster.this.version
}

output "certificate_authority_data" {
  description = "Base64-encoded CA certificate of the API server (for kubeconfig)."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "node_group_name" {
  description = "Name of the first managed node group (\"default\" unless node_groups is set)."
  value       = values(aws_eks_node_group.this)[0].node_group_name
}

output "node_group_names" {
  description = "Managed node group names by key."
  value       = { for key, ng in aws_eks_node_group.this : key => ng.node_group_name }
}

output "node_role_arn" {
  description = "ARN of the nodes' IAM role."
  value       = aws_iam_role.node.arn
}

output "cluster_role_arn" {
  description = "ARN of the control plane's IAM role."
  value       = aws_iam_role.cluster.arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting Kubernetes secrets and the control-plane logs."
  value       = aws_kms_key.this.arn
}

output "log_group_name" {
  description = "CloudWatch Logs group of the control-plane logs."
  value       = aws_cloudwatch_log_group.this.name
}

output "oidc_issuer_url" {
  description = "OIDC issuer URL of the cluster (for IRSA trust policies)."
  value       = local.oidc_issuer
}

output "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider (the Federated principal of IRSA roles)."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "addon_versions" {
  description = "Installed managed add-on versions by name."
  value       = { for name, a in aws_eks_addon.this : name => a.addon_version }
}

output "node_launch_template_id" {
  description = "ID of the nodes' launch template."
  value       = aws_launch_template.node.id
}
