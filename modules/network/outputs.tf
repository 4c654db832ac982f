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
