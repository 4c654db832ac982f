# The network of one environment: a VPC; per availability zone a public
# subnet (default route through the internet gateway) and a private subnet
# (default route through a NAT gateway: one per zone, or a single shared one);
# every subnet explicitly associated with its route table; the VPC's default
# security group adopted and locked down (no rules).

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  # The first az_count zones of the region, in the API's (stable) order.
  azs = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # NAT gateways: none, one shared by every private subnet, or one per zone.
  nat_count = var.enable_nat_gateway ? (var.single_nat_gateway ? 1 : var.az_count) : 0
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, {
    Name = var.name
  })
}

# Adopted, not created: every rule is removed, so nothing that lands in the
# default group by accident can talk to anything.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, {
    Name = "${var.name}-default"
  })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, {
    Name = "${var.name}-igw"
  })
}

# Public subnets: the first az_count blocks of the VPC range.
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

# Private subnets: the blocks after the public ones.
resource "aws_subnet" "private" {
  count = var.az_count

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.cidr_block, var.subnet_newbits, var.az_count + count.index)

  tags = merge(var.tags, {
    Name = format("%s-private-%s", var.name, local.azs[count.index])
    Tier = "private"
  })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, {
    Name = "${var.name}-public"
  })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

# Taking the table ID from the route makes each association wait for the
# internet route, and the NAT gateways (placed through the associations)
# for a subnet that is really public: AWS refuses a public NAT gateway in a
# VPC without an attached internet gateway.
resource "aws_route_table_association" "public" {
  count = var.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route.public_internet.route_table_id
}

resource "aws_eip" "nat" {
  count = local.nat_count

  domain = "vpc"

  tags = merge(var.tags, {
    Name = format("%s-nat-%s", var.name, local.azs[count.index])
  })
}

resource "aws_nat_gateway" "this" {
  count = local.nat_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_route_table_association.public[count.index].subnet_id

  tags = merge(var.tags, {
    Name = format("%s-nat-%s", var.name, local.azs[count.index])
  })
}

# One private route table per zone, so a per-zone NAT layout keeps traffic
# in its zone; with a single NAT every table routes through it.
resource "aws_route_table" "private" {
  count = var.az_count

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, {
    Name = format("%s-private-%s", var.name, local.azs[count.index])
  })
}

resource "aws_route" "private_nat" {
  count = var.enable_nat_gateway ? var.az_count : 0

  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
}

resource "aws_route_table_association" "private" {
  count = var.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}
