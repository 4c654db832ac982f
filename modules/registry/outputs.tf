output "repository_urls" {
  description = "Repository URL (for docker push/pull) by repository name."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.repository_url }
}

output "repository_arns" {
  description = "Repository ARN by repository name."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.arn }
}

output "bucket_name" {
  description = "Name of the artifact/cache bucket."
  value       = aws_s3_bucket.artifacts.id
}

output "bucket_arn" {
  description = "ARN of the artifact/cache bucket."
  value       = aws_s3_bucket.artifacts.arn
}
