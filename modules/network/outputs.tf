output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, one per availability zone, in zone order."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (outbound through NAT), one per availability zone, in zone order."
  value       = aws_subnet.private[*].id
}

output "subnet_ids" {
  description = "Deprecated alias of public_subnet_ids (the module's only subnets before it had private ones)."
  value       = aws_subnet.public[*].id
}

output "availability_zones" {
  description = "Availability zones the subnets were placed in."
  value       = local.azs
}

output "internet_gateway_id" {
  description = "ID of the internet gateway."
  value       = aws_internet_gateway.this.id
}

output "route_table_id" {
  description = "ID of the public route table (default route via the internet gateway)."
  value       = aws_route_table.public.id
}

output "private_route_table_ids" {
  description = "IDs of the private route tables, one per availability zone, in zone order."
  value       = aws_route_table.private[*].id
}

output "nat_gateway_ids" {
  description = "IDs of the NAT gateways (one, one per zone, or none)."
  value       = aws_nat_gateway.this[*].id
}

output "nat_public_ips" {
  description = "Public IP addresses of the NAT gateways (allow-list these at services the runners call)."
  value       = aws_eip.nat[*].public_ip
}

output "default_security_group_id" {
  description = "ID of the VPC's default security group (locked down: no rules)."
  value       = aws_default_security_group.this.id
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway endpoint (null when enable_s3_endpoint is false)."
  value       = one(aws_vpc_endpoint.s3[*].id)
}

output "interface_endpoint_ids" {
  description = "IDs of the interface endpoints, by service (\"ecr.api\", \"ecr.dkr\", \"sts\")."
  value       = { for k, e in aws_vpc_endpoint.interface : k => e.id }
}

output "endpoints_security_group_id" {
  description = "ID of the security group of the interface endpoints (HTTPS from the VPC; null without interface endpoints)."
  value       = one(aws_security_group.endpoints[*].id)
}

output "flow_log_id" {
  description = "ID of the VPC flow log (null when enable_flow_logs is false)."
  value       = one(aws_flow_log.this[*].id)
}

output "flow_log_group_name" {
  description = "Name of the CloudWatch log group receiving the flow logs."
  value       = one(aws_cloudwatch_log_group.flow_logs[*].name)
}

output "flow_log_role_arn" {
  description = "ARN of the IAM role the flow-logs service delivers with."
  value       = one(aws_iam_role.flow_logs[*].arn)
}
