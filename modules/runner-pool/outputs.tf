output "autoscaling_group_name" {
  description = "Name of the runners' autoscaling group."
  value       = aws_autoscaling_group.runner.name
}

output "launch_template_id" {
  description = "ID of the runners' launch template."
  value       = aws_launch_template.runner.id
}

output "security_group_id" {
  description = "ID of the runners' security group (allow it on resources the runners must reach)."
  value       = aws_security_group.runner.id
}

output "iam_role_name" {
  description = "Name of the runners' IAM role (attach more policies to it from outside the module)."
  value       = aws_iam_role.runner.name
}

output "iam_role_arn" {
  description = "ARN of the runners' IAM role."
  value       = aws_iam_role.runner.arn
}

output "instance_profile_name" {
  description = "Name of the instance profile."
  value       = aws_iam_instance_profile.runner.name
}

output "ami_id" {
  description = "AMI the runners boot from."
  value       = local.ami_id
}

output "registration_token_parameter_arn" {
  description = "ARN of the SSM parameter the runners read their token from."
  value       = local.token_parameter_arn
}
