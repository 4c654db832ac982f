output "vpc_id" {
  description = "ID of the environment's VPC."
  value       = module.network.vpc_id
}

output "subnet_ids" {
  description = "IDs of the environment's subnets."
  value       = module.network.subnet_ids
}

output "registry_urls" {
  description = "ECR repository URL by repository name."
  value       = { for name, repo in aws_ecr_repository.service : name => repo.repository_url }
}

output "artifact_bucket" {
  description = "S3 bucket for build artifacts and CI caches."
  value       = aws_s3_bucket.artifacts.id
}

output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.main.name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint of the EKS cluster."
  value       = aws_eks_cluster.main.endpoint
}

output "cluster_arn" {
  description = "ARN of the EKS cluster."
  value       = aws_eks_cluster.main.arn
}

output "node_groups" {
  description = "Managed node group names by key."
  value       = { for key, ng in aws_eks_node_group.pool : key => ng.node_group_name }
}

output "runner_autoscaling_group" {
  description = "Autoscaling group of the CI runners."
  value       = module.runners.autoscaling_group_name
}
