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
  description = "Name of the managed node group."
  value       = aws_eks_node_group.default.node_group_name
}

output "node_role_arn" {
  description = "ARN of the nodes' IAM role."
  value       = aws_eks_node_group.default.node_role_arn
}

output "cluster_role_arn" {
  description = "ARN of the control plane's IAM role."
  value       = aws_iam_role.cluster.arn
}
