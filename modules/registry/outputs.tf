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

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting the images and the artifact bucket (writers need kms:GenerateDataKey, readers kms:Decrypt)."
  value       = aws_kms_key.this.arn
}

output "access_log_bucket_name" {
  description = "Name of the bucket receiving the artifact bucket's server access logs."
  value       = aws_s3_bucket.access_logs.id
}
