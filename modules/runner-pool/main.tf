# An autoscaling pool of CI runners: EC2 instances that install gitlab-runner
# at boot and register with GitLab. The runner token is never part of the
# configuration: it lives in an SSM SecureString parameter (created outside
# terrace, see README.md) that the instance reads at boot with its own role,
# so it appears in no user data, plan file, plan JSON or state.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

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
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  ami_id = var.ami_id != null ? var.ami_id : data.aws_ami.amazon_linux[0].id

  # The package to install: pinned ("gitlab-runner-16.11.1") or the newest one.
  runner_package = var.runner_version == "latest" ? "gitlab-runner" : "gitlab-runner-${var.runner_version}"

  # The token parameter's ARN, built from its name ("/ci/runner-token" or
  # "ci-runner-token"): the module never reads the parameter itself.
  token_parameter_arn = "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/${trimprefix(var.registration_token_parameter, "/")}"
}

# --- Identity -----------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "runner" {
  name               = "${var.name}-role"
  description        = "Role assumed by the ${var.name} CI runner instances"
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

# Least privilege: push and pull to this environment's repositories, read and
# write its artifact bucket, read the one token parameter, use the keys that
# encrypt them, and Session Manager (shell access without SSH).
data "aws_iam_policy_document" "runner" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the action takes no resource
  }

  dynamic "statement" {
    for_each = length(var.repository_arns) > 0 ? [1] : []
    content {
      sid = "EcrPushPull"
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:DescribeImages",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:ListImages",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
      ]
      resources = var.repository_arns
    }
  }

  dynamic "statement" {
    for_each = var.artifact_bucket_arn != null ? [1] : []
    content {
      sid       = "ArtifactBucketList"
      actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
      resources = [var.artifact_bucket_arn]
    }
  }

  dynamic "statement" {
    for_each = var.artifact_bucket_arn != null ? [1] : []
    content {
      sid       = "ArtifactObjects"
      actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
      resources = ["${var.artifact_bucket_arn}/*"]
    }
  }

  statement {
    sid       = "RunnerToken"
    actions   = ["ssm:GetParameter"]
    resources = [local.token_parameter_arn]
  }

  # The token's key (the given one, or any key — AWS's managed aws/ssm by
  # default), only through SSM and only for that one parameter: SSM puts the
  # parameter's ARN into the encryption context.
  statement {
    sid       = "RunnerTokenKey"
    actions   = ["kms:Decrypt"]
    resources = [var.registration_token_kms_key_arn != null ? var.registration_token_kms_key_arn : "arn:${local.partition}:kms:${local.region}:${local.account}:key/*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = [local.token_parameter_arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "ArtifactKeys"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = var.kms_key_arns
    }
  }

  statement {
    sid = "SessionManager"
    actions = [
      "ssm:UpdateInstanceInformation",
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"] # these actions take no resource
  }
}

resource "aws_iam_role_policy" "runner" {
  name   = "${var.name}-least-privilege"
  role   = aws_iam_role.runner.id
  policy = data.aws_iam_policy_document.runner.json
}

resource "aws_iam_role_policy_attachment" "extra" {
  for_each = toset(var.extra_policy_arns)

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
    description = "All outbound traffic (GitLab, registries, package mirrors)"
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

  # IMDSv2 only, one hop: job containers cannot reach the instance's
  # credentials.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_size
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  # The script names the token parameter, never the token: the instance
  # fetches it at boot (aws ssm get-parameter --with-decryption).
  user_data = base64encode(templatefile("${path.module}/user-data.sh.tftpl", {
    runner_name     = var.name
    gitlab_url      = var.gitlab_url
    token_parameter = var.registration_token_parameter
    region          = local.region
    runner_package  = local.runner_package
    executor        = var.executor
    default_image   = var.default_image
    concurrent      = var.concurrent
  }))

  tag_specifications {
    resource_type = "instance"
    tags = merge(var.tags, {
      Name = var.name
      Role = "ci-runner"
    })
  }

  tag_specifications {
    resource_type = "volume"
    tags = merge(var.tags, {
      Name = var.name
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
    version = aws_launch_template.runner.latest_version
  }

  # A new launch template version (a new AMI, instance type or boot script)
  # rolls the runners, keeping at least half of them in service.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = var.refresh_min_healthy_percentage
      instance_warmup        = "120"
    }
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

  lifecycle {
    # The schedules and the target-tracking policy move the capacity (a new
    # min_size reaches the group through the working-hours schedule).
    ignore_changes = [desired_capacity, min_size]
  }
}

# --- Scaling ----------------------------------------------------------------------

# Working hours: back to min_size/desired_capacity; outside them: zero runners.
resource "aws_autoscaling_schedule" "working_hours_start" {
  count = var.scale_to_zero_outside_working_hours ? 1 : 0

  scheduled_action_name  = "${var.name}-working-hours-start"
  autoscaling_group_name = aws_autoscaling_group.runner.name
  recurrence             = var.working_hours_start
  time_zone              = var.time_zone
  min_size               = var.min_size
  max_size               = var.max_size
  desired_capacity       = var.desired_capacity
}

resource "aws_autoscaling_schedule" "working_hours_end" {
  count = var.scale_to_zero_outside_working_hours ? 1 : 0

  scheduled_action_name  = "${var.name}-working-hours-end"
  autoscaling_group_name = aws_autoscaling_group.runner.name
  recurrence             = var.working_hours_end
  time_zone              = var.time_zone
  min_size               = 0
  max_size               = var.max_size
  desired_capacity       = 0
}

# Between min_size and max_size, keep the runners' average CPU near the target.
resource "aws_autoscaling_policy" "cpu" {
  name                   = "${var.name}-cpu-target"
  autoscaling_group_name = aws_autoscaling_group.runner.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.target_cpu_utilization
  }
}
