# Read by later pipeline stages:
#   terrace output -e pr-42 --format github   >> "$GITHUB_OUTPUT"
#   terrace output -e pr-42 --format dotenv   > preview.env

output "environment" {
  description = "Name of the preview environment."
  value       = terrace.environment
}

output "vpc_id" {
  description = "ID of the preview's VPC."
  value       = aws_vpc.preview.id
}

output "subnet_id" {
  description = "ID of the preview's subnet."
  value       = aws_subnet.preview.id
}

output "security_group_id" {
  description = "ID of the app's security group."
  value       = aws_security_group.app.id
}

output "repository_url" {
  description = "ECR repository the pipeline pushes the preview image to."
  value       = aws_ecr_repository.app.repository_url
}

output "bucket" {
  description = "S3 bucket for the preview's artifacts."
  value       = aws_s3_bucket.artifacts.id
}

output "instance_id" {
  description = "ID of the app host."
  value       = aws_instance.app.id
}

output "app_url" {
  description = "URL of the preview app (inside the VPC)."
  value       = "http://${aws_instance.app.private_ip}:${var.app_port}"
}
