# Least-privilege IAM for das-exporter, one role per deployment, assumed
# through EKS IRSA. deploy/iam/policy.json is the same policy for one
# example cluster, for those who do not use Terraform.
#
# For an RDS instance (SQL Server, Oracle) the encryption context key is
# aws:rds:db-id and the resource id starts with db-: set
# encryption_context_key accordingly.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "name" {
  description = "Name of the role, policy and lease table prefix."
  type        = string
  default     = "das-exporter"
}

variable "db_resource_id" {
  description = "DbClusterResourceId (cluster-…) or, for RDS instances, DbiResourceId (db-…) whose activity stream is read."
  type        = string
}

variable "encryption_context_key" {
  description = "KMS encryption context key DAS uses: aws:rds:dbc-id for Aurora clusters, aws:rds:db-id for RDS instances."
  type        = string
  default     = "aws:rds:dbc-id"
  validation {
    condition     = contains(["aws:rds:dbc-id", "aws:rds:db-id"], var.encryption_context_key)
    error_message = "encryption_context_key must be aws:rds:dbc-id or aws:rds:db-id."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key the activity stream was started with."
  type        = string
}

variable "lease_table_name" {
  description = "DynamoDB table for shard leases and checkpoints (run --leases dynamodb:<name>)."
  type        = string
  default     = "das-exporter-leases"
}

variable "consumer_name" {
  description = "With run --consumer efo: the enhanced fan-out consumer name (--consumer-name). Its statements are left out when null."
  type        = string
  default     = "das-exporter"
  nullable    = true
}

variable "oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider."
  type        = string
}

variable "oidc_provider_url" {
  description = "Issuer URL of the EKS cluster's OIDC provider, without https://."
  type        = string
}

variable "service_account" {
  description = "namespace:name of the Kubernetes ServiceAccount (deploy/kubernetes/serviceaccount.yaml)."
  type        = string
  default     = "das-exporter:das-exporter"
}

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  stream_arn = "arn:aws:kinesis:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:stream/aws-rds-das-${var.db_resource_id}"
  table_arn  = "arn:aws:dynamodb:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:table/${var.lease_table_name}"
}

data "aws_iam_policy_document" "das_exporter" {
  statement {
    sid = "ReadTheActivityStream"
    actions = [
      "kinesis:DescribeStreamSummary",
      "kinesis:ListShards",
      "kinesis:GetShardIterator",
      "kinesis:GetRecords",
    ]
    resources = [local.stream_arn]
  }

  # Enhanced fan-out (run --consumer efo): register the consumer on the stream, then subscribe as that consumer
  # only. A consumer ARN ends in its creation time, unknown until it is registered: hence the :* suffix.
  dynamic "statement" {
    for_each = var.consumer_name == null ? [] : [1]
    content {
      sid       = "RegisterTheFanOutConsumer"
      actions   = ["kinesis:RegisterStreamConsumer", "kinesis:ListStreamConsumers"]
      resources = [local.stream_arn]
    }
  }

  dynamic "statement" {
    for_each = var.consumer_name == null ? [] : [1]
    content {
      sid       = "SubscribeAsTheFanOutConsumer"
      actions   = ["kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard", "kinesis:DeregisterStreamConsumer"]
      resources = ["${local.stream_arn}/consumer/${coalesce(var.consumer_name, "none")}:*"]
    }
  }

  statement {
    sid       = "DecryptDataKeysOfThisClusterOnly"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:${var.encryption_context_key}"
      values   = [var.db_resource_id]
    }
  }

  statement {
    sid = "ShareShardsThroughTheLeaseTable"
    actions = [
      "dynamodb:CreateTable",
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:Scan",
    ]
    resources = [local.table_arn]
  }
}

data "aws_iam_policy_document" "assume_from_service_account" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_provider_url}:sub"
      values   = ["system:serviceaccount:${var.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_provider_url}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "das_exporter" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume_from_service_account.json
}

resource "aws_iam_role_policy" "das_exporter" {
  name   = var.name
  role   = aws_iam_role.das_exporter.id
  policy = data.aws_iam_policy_document.das_exporter.json
}

output "das_exporter_role_arn" {
  description = "Put this in the ServiceAccount's eks.amazonaws.com/role-arn annotation."
  value       = aws_iam_role.das_exporter.arn
}
