output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "subnet_ids" {
  description = "IDs of the public subnets, one per availability zone, in zone order."
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
