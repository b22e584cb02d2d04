# Least-privilege roles. Execution role: pull images, write logs, read the tasks' secrets
# (the API key pepper for the gateway, the admin key for Triton). The migrate task has its
# own, the only one that reads the database's master password. Task roles: read-only
# access to the model release prefix; the gateway's may also mount the audit spool
# through its access point (spool.tf) and log in to PostgreSQL as its own role (IAM).
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

# The gateway logs in to PostgreSQL as its own role with IAM tokens (store/engine.py):
# this role only, on this instance only.
data "aws_iam_policy_document" "gateway_db_connect" {
  statement {
    sid       = "ConnectAsTheGatewayRole"
    actions   = ["rds-db:connect"]
    resources = ["arn:aws:rds-db:${var.region}:${var.account_id}:dbuser:${var.db_resource_id}/${var.db_gateway_username}"]
  }
}

resource "aws_iam_role_policy" "gateway_db_connect" {
  name   = "connect-as-gateway-db-role"
  role   = aws_iam_role.gateway.id
  policy = data.aws_iam_policy_document.gateway_db_connect.json
}

# The migrate task: its execution role pulls the image, writes logs and reads the master
# password; its task role may do nothing (the task calls no AWS API).
resource "aws_iam_role" "migrate_execution" {
  name               = "${var.name}-migrate-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "migrate_execution" {
  role       = aws_iam_role.migrate_execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "migrate_secrets" {
  statement {
    sid       = "ReadDatabaseMasterSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.db_secret_arn]
  }

  statement {
    sid       = "DecryptDatabaseMasterSecret"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "migrate_secrets" {
  name   = "read-database-master-secret"
  role   = aws_iam_role.migrate_execution.id
  policy = data.aws_iam_policy_document.migrate_secrets.json
}

resource "aws_iam_role" "migrate" {
  name               = "${var.name}-migrate-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}
