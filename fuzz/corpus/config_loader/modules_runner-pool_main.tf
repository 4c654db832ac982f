# An autoscaling pool of CI runners: EC2 instances that install gitlab-runner
# at boot and register with GitLab using a runner token.

data "aws_ami" "amazon_linux" {
  # Only looked up when no explicit AMI was given.
  count = var.ami_id == null ? 1 : 0

  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["amzn2-ami-hvm-*-x86_64-gp2"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

locals {
  ami_id = var.ami_id != null ? var.ami_id : data.aws_ami.amazon_linux[0].id

  # The package to install: pinned ("gitlab-runner-16.11.1") or the newest one.
  runner_package = var.runner_version == "latest" ? "gitlab-runner" : "gitlab-runner-${var.runner_version}"

  # Policies every runner needs: Systems Manager (shell access without SSH) and
  # read access to ECR (pulling job images from the platform's registries).
  policy_arns = concat([
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
  ], var.extra_policy_arns)
}

# --- Identity -----------------------------------------------------------------

resource "aws_iam_role" "runner" {
  name        = "${var.name}-role"
  description = "Role assumed by the ${var.name} CI runner instances"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ec2.amazonaws.com" }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "runner" {
  for_each = toset(local.policy_arns)

  role       = aws_iam_role.runner.name
  policy_arn = each.value
}

resource "aws_iam_instance_profile" "runner" {
  name = "${var.name}-profile"
  role = aws_iam_role.runner.name

  tags = var.tags
}

# --- Network access -----------------------------------------------------------

resource "aws_security_group" "runner" {
  name        = "${var.name}-sg"
  description = "CI runners: outbound to GitLab and registries, optional SSH in"
  vpc_id      = var.vpc_id

  # One SSH rule per allowed CIDR block; none by default.
  dynamic "ingress" {
    for_each = var.ssh_ingress_cidr_blocks
    content {
      description = "SSH from ${ingress.value}"
      from_port   = 22
      to_port     = 22
      protocol    = "tcp"
      cidr_blocks = [ingress.value]
    }
  }

  egress {
    description = "All outbound traffic"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(var.tags, {
    Name = "${var.name}-sg"
  })
}

# --- Instances ------------------------------------------------------------------

resource "aws_launch_template" "runner" {
  name                   = "${var.name}-lt"
  description            = "CI runner instances for ${var.name}"
  image_id               = local.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.runner.id]
  update_default_version = true

  iam_instance_profile {
    name = aws_iam_instance_profile.runner.name
  }

  # IMDSv2 only: instance credentials are not reachable by a plain GET from a
  # job container.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  # The rendered script contains the runner token, so terrace treats the whole
  # user_data value as sensitive and never prints it.
  user_data = base64encode(templatefile("${path.module}/user-data.sh.tftpl", {
    runner_name        = var.name
    gitlab_url         = var.gitlab_url
    registration_token = var.registration_token
    runner_package     = local.runner_package
    executor           = var.executor
    default_image      = var.default_image
    concurrent         = var.concurrent
  }))

  tag_specifications {
    resource_type = "instance"
    tags = merge(var.tags, {
      Name = var.name
      Role = "ci-runner"
    })
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "runner" {
  name                = "${var.name}-asg"
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_capacity
  vpc_zone_identifier = var.subnet_ids
  health_check_type   = "EC2"

  launch_template {
    id      = aws_launch_template.runner.id
    version = "$Latest"
  }

  # Autoscaling groups take tags as repeated `tag` blocks.
  dynamic "tag" {
    for_each = merge(var.tags, { Name = var.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}
