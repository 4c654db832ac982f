# VPC endpoints: traffic to S3 (a gateway endpoint, free) and, optionally,
# to ECR and STS (interface endpoints) stays inside the VPC, so runners and
# EKS nodes pull images and assume roles without paying for NAT.

data "aws_region" "current" {}

locals {
  # Every route table of the module: the S3 prefix list is routed from
  # public and private subnets alike.
  route_table_ids = concat([aws_route_table.public.id], aws_route_table.private[*].id)
}

resource "aws_vpc_endpoint" "s3" {
  count = var.enable_s3_endpoint ? 1 : 0

  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = local.route_table_ids

  tags = merge(var.tags, {
    Name = "${var.name}-s3"
  })
}

# Interface endpoints answer on HTTPS only, and only to the VPC itself.
resource "aws_security_group" "endpoints" {
  count = length(var.interface_endpoints) > 0 ? 1 : 0

  name        = "${var.name}-endpoints"
  description = "HTTPS from ${var.cidr_block} to the VPC interface endpoints"
  vpc_id      = aws_vpc.this.id

  ingress {
    description = "HTTPS from the VPC"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [aws_vpc.this.cidr_block]
  }

  tags = merge(var.tags, {
    Name = "${var.name}-endpoints"
  })
}

# One endpoint per service, in the private subnets, with private DNS so the
# service's usual host name resolves to the endpoint inside the VPC.
resource "aws_vpc_endpoint" "interface" {
  for_each = toset(var.interface_endpoints)

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints[0].id]

  tags = merge(var.tags, {
    Name = "${var.name}-${replace(each.key, ".", "-")}"
  })
}
