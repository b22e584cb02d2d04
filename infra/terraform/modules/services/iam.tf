# Least-privilege roles. Execution role: pull images, write logs, read the tasks' secrets
# (the database password and API key pepper for the gateway, the admin key for Triton).
# Task roles: read-only access to the model release prefix; the gateway's may also mount
# the audit spool through its access point (spool.tf).
data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-task-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  statement {
    sid     = "ReadTaskSecrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      var.db_secret_arn,
      aws_secretsmanager_secret.api_key_pepper.arn,
      aws_secretsmanager_secret.triton_admin_key.arn,
    ]
  }

  statement {
    sid       = "DecryptTaskSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  name   = "read-task-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secrets.json
}

resource "aws_iam_role" "triton" {
  name               = "${var.name}-triton-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role" "gateway" {
  name               = "${var.name}-gateway-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# Triton reads the whole release; the gateway only the tokenizer model of it.
locals {
  model_read_prefixes = {
    triton  = "releases/*"
    gateway = "releases/*/sentiment_tokenizer/*"
  }
}

data "aws_iam_policy_document" "model_read" {
  for_each = local.model_read_prefixes

  statement {
    sid       = "ListReleases"
    actions   = ["s3:ListBucket"]
    resources = [var.models_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["releases/", each.value]
    }
  }

  statement {
    sid       = "ReadReleaseObjects"
    actions   = ["s3:GetObject"]
    resources = ["${var.models_bucket_arn}/${each.value}"]
  }

  statement {
    sid       = "DecryptReleaseObjects"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "triton_models" {
  name   = "read-model-releases"
  role   = aws_iam_role.triton.id
  policy = data.aws_iam_policy_document.model_read["triton"].json
}

resource "aws_iam_role_policy" "gateway_models" {
  name   = "read-served-tokenizer"
  role   = aws_iam_role.gateway.id
  policy = data.aws_iam_policy_document.model_read["gateway"].json
}

# HMAC pepper of API key hashes: generated once, kept in Secrets Manager.
resource "random_password" "api_key_pepper" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "api_key_pepper" {
  #checkov:skip=CKV2_AWS_57:rotating the pepper invalidates every issued API key; it is rotated by re-issuing keys, not on a schedule
  name                    = "${var.name}/gateway/api-key-pepper"
  description             = "SENTIMENT_API_KEY_PEPPER of the gateway"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "api_key_pepper" {
  secret_id     = aws_secretsmanager_secret.api_key_pepper.id
  secret_string = random_password.api_key_pepper.result
}

# The header key of Triton's model-repository API (load, unload, index): Triton reads it
# at start (TRITON_ADMIN_KEY, infra/docker/triton-entrypoint.sh) and refuses those calls
# without it. Nothing on ECS loads or unloads models (a release is a new task definition),
# so only the Triton task gets it; an operator reads it here for a manual load.
resource "random_password" "triton_admin_key" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "triton_admin_key" {
  #checkov:skip=CKV2_AWS_57:Triton reads the key at start; it is rotated by putting a new value and redeploying the Triton service, not by a rotation Lambda
  name                    = "${var.name}/triton/admin-key"
  description             = "TRITON_ADMIN_KEY: the sentiment-admin-key header of Triton's model-repository API"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "triton_admin_key" {
  secret_id     = aws_secretsmanager_secret.triton_admin_key.id
  secret_string = random_password.triton_admin_key.result
}
