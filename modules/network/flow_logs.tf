# VPC flow logs to a CloudWatch log group, encrypted with a KMS key (the
# module's own unless flow_logs_kms_key_arn names one). The delivery role is
# trusted by the flow-logs service of this account only, and may write to
# this one log group only (no "*" resources).

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  flow_logs_group_name = "/aws/vpc-flow-logs/${var.name}"
  # The module's key, when none is given.
  flow_logs_own_key = var.enable_flow_logs && var.flow_logs_kms_key_arn == null
}

resource "aws_kms_key" "flow_logs" {
  count = local.flow_logs_own_key ? 1 : 0

  description             = "VPC flow logs of ${var.name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # A key policy (Resource "*" is this key): the account administers the key
  # through IAM, and CloudWatch Logs may use it for this flow-log group only.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsOfTheFlowLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${data.aws_region.current.name}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnEquals = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:${local.flow_logs_group_name}"
          }
        }
      },
    ]
  })

  tags = merge(var.tags, {
    Name = "${var.name}-flow-logs"
  })
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name              = local.flow_logs_group_name
  retention_in_days = var.flow_logs_retention_in_days
  kms_key_id        = local.flow_logs_own_key ? aws_kms_key.flow_logs[0].arn : var.flow_logs_kms_key_arn

  tags = merge(var.tags, {
    Name = "${var.name}-flow-logs"
  })
}

data "aws_iam_policy_document" "flow_logs_trust" {
  count = var.enable_flow_logs ? 1 : 0

  statement {
    sid     = "FlowLogsService"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    # Only flow logs of this account may use the role (confused deputy).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "flow_logs_write" {
  count = var.enable_flow_logs ? 1 : 0

  statement {
    sid    = "WriteFlowLogs"
    effect = "Allow"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogGroups",
      "logs:DescribeLogStreams",
    ]
    resources = [
      aws_cloudwatch_log_group.flow_logs[0].arn,
      "${aws_cloudwatch_log_group.flow_logs[0].arn}:*",
    ]
  }
}

resource "aws_iam_role" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name               = "${var.name}-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_trust[0].json

  tags = merge(var.tags, {
    Name = "${var.name}-vpc-flow-logs"
  })
}

resource "aws_iam_role_policy" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs[0].id
  policy = data.aws_iam_policy_document.flow_logs_write[0].json
}

resource "aws_flow_log" "this" {
  count = var.enable_flow_logs ? 1 : 0

  vpc_id                   = aws_vpc.this.id
  traffic_type             = var.flow_logs_traffic_type
  log_destination_type     = "cloud-watch-logs"
  log_destination          = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn             = aws_iam_role.flow_logs[0].arn
  max_aggregation_interval = var.flow_logs_max_aggregation_interval

  tags = merge(var.tags, {
    Name = "${var.name}-flow-logs"
  })

  # The role must be able to write before the first records are delivered.
  depends_on = [aws_iam_role_policy.flow_logs]
}
