terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0" }
  }
}

provider "aws" {
  region = var.region
  default_tags { tags = { Owner = "platform" } }
}

variable "region" {
  type    = string
  default = "us-east-1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+-[0-9]$", var.region))
    error_message = "Region must look like us-east-1."
  }
}

variable "pools" {
  type = map(object({ size = number, type = optional(string, "t3.micro") }))
  default = { small = { size = 1 }, big = { size = 3, type = "m5.large" } }
}

variable "token" {
  type      = string
  sensitive = true
  default   = "x"
}

locals {
  names  = [for k, v in var.pools : "${k}-${v.type}" if v.size > 0]
  merged = merge({ a = 1 }, { b = 2 })
  script = <<-EOT
    #!/bin/sh
    echo ${join(",", local.names)}
    %{ for n in local.names ~}
    echo ${n}
    %{ endfor ~}
  EOT
}

resource "aws_vpc" "main" {
  cidr_block = cidrsubnet("10.0.0.0/8", 8, 1)
  tags       = { Name = format("%s-vpc", terrace.environment) }
}

resource "aws_security_group" "sg" {
  for_each = var.pools
  name     = "sg-${each.key}"
  vpc_id   = aws_vpc.main.id

  dynamic "ingress" {
    for_each = [22, 443]
    content {
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = ["10.0.0.0/8"]
    }
  }

  lifecycle {
    create_before_destroy = true
    ignore_changes        = [tags]
  }
}

resource "aws_instance" "w" {
  count         = length(local.names) * 2
  ami           = "ami-123"
  instance_type = try(var.pools["big"].type, "t3.micro")
  user_data     = local.script
  depends_on    = [aws_security_group.sg]
}

data "aws_availability_zones" "azs" {}

moved {
  from = aws_instance.old
  to   = aws_instance.w[0]
}

import {
  to = aws_vpc.main
  id = "vpc-123"
}

module "net" {
  source = "./net"
  cidr   = aws_vpc.main.cidr_block
}

output "names" {
  value = local.names
}

output "token" {
  value     = var.token
  sensitive = true
}
