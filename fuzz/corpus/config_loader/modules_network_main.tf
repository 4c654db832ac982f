# A public network for one environment: a VPC, one subnet per availability
# zone (carved out of the VPC range with cidrsubnet), an internet gateway and a
# route table with a default route through it.

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  # The first az_count zones of the region, in the API's (stable) order.
  azs = slice(data.aws_availability_zones.available.names, 0, var.az_count)
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, {
    Name = var.name
  })
}

resource "aws_subnet" "public" {
  count = var.az_count

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.cidr_block, var.subnet_newbits, count.index)
  map_public_ip_on_launch = true

  tags = merge(var.tags, {
    Name = format("%s-public-%s", var.name, local.azs[count.index])
    Tier = "public"
  })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, {
    Name = "${var.name}-igw"
  })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  # Default route: everything not local to the VPC leaves through the gateway.
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }

  tags = merge(var.tags, {
    Name = "${var.name}-public"
  })
}

# NOTE: the subnets are not yet associated with this route table, because
# terrace does not support aws_route_table_association yet; until it does, the
# subnets use the VPC's main route table. Once supported, add:
#
#   resource "aws_route_table_association" "public" {
#     count          = var.az_count
#     subnet_id      = aws_subnet.public[count.index].id
#     route_table_id = aws_route_table.public.id
#   }
