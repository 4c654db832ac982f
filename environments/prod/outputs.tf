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
  value       = module.registry.repository_urls
}

output "artifact_bucket" {
  description = "S3 bucket for build artifacts and CI caches."
  value       = module.registry.bucket_name
}

output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.cluster.name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint of the EKS cluster."
  value       = module.cluster.endpoint
}

output "cluster_arn" {
  description = "ARN of the EKS cluster."
  value       = module.cluster.arn
}

output "node_groups" {
  description = "Managed node group names by key."
  value       = module.cluster.node_group_names
}

output "runner_autoscaling_group" {
  description = "Autoscaling group of the CI runners."
  value       = module.runners.autoscaling_group_name
}
