output "vpc_id" {
  description = "ID of the demo VPC."
  value       = aws_vpc.main.id
}

output "subnet_ids" {
  description = "IDs of the two subnets."
  value       = aws_subnet.runners[*].id
}

output "repository_url" {
  description = "URL of the ECR repository."
  value       = aws_ecr_repository.app.repository_url
}

output "bucket" {
  description = "Name of the versioned artifact bucket."
  value       = aws_s3_bucket.artifacts.id
}

output "instance_ids" {
  description = "IDs of the runner instances."
  value       = aws_instance.runner[*].id
}

output "runner_private_ips" {
  description = "Private IP address of each runner."
  value       = aws_instance.runner[*].private_ip
}
