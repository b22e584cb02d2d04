# One customer-managed KMS key for the deployment, and the S3 buckets: model releases,
# MLflow artifacts, and the access-log sink. Every bucket: versioned, KMS-encrypted,
# public access blocked, TLS-only bucket policy.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:a key policy's Resource "*" means this key only; write access is limited to this account's principals
  #checkov:skip=CKV_AWS_356:a key policy's Resource "*" means this key only (it cannot name other resources)
  #checkov:skip=CKV_AWS_109:key administration by the account root is the AWS default that keeps the key manageable
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${var.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:aws:logs:${var.region}:${var.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "main" {
  description             = "${var.name}: S3, RDS, ECR, EFS, AWS Backup, CloudWatch Logs, Secrets Manager"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.main.key_id
}

locals {
  buckets = {
    models = "${var.name}-models-${var.account_id}"
    mlflow = "${var.name}-mlflow-${var.account_id}"
  }
}

# Access logs of the ALB and the data buckets. ALB log delivery supports SSE-S3 only.
resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:this is the access-log sink; logging it into itself would loop
  #checkov:skip=CKV_AWS_145:ALB access-log delivery supports SSE-S3 (AES256) only, not SSE-KMS
  #checkov:skip=CKV_AWS_144:logs are regenerated data; cross-region replication is not worth its cost
  #checkov:skip=CKV2_AWS_62:nothing consumes events of log objects
  bucket        = "${var.name}-access-logs-${var.account_id}"
  force_destroy = false
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_elb_service_account" "current" {}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "AlbLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/alb/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }

  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = data.aws_iam_policy_document.access_logs.json
}

# Model releases and MLflow artifacts.
resource "aws_s3_bucket" "data" {
  #checkov:skip=CKV_AWS_144:releases are re-publishable from MLflow; single-region by design (cost)
  #checkov:skip=CKV2_AWS_62:deployments are driven by terraform (model_release), not by S3 events
  for_each      = local.buckets
  bucket        = each.value
  force_destroy = false
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  for_each = aws_s3_bucket.data
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "data" {
  for_each = aws_s3_bucket.data
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  for_each                = aws_s3_bucket.data
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_logging" "data" {
  for_each      = aws_s3_bucket.data
  bucket        = each.value.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "s3/${each.key}/"
}

# Retention. Every data bucket: noncurrent versions go after 90 days (a deleted or
# replaced object stays restorable that long), then their delete markers. The MLflow bucket:
# drift reports (the drift experiment's artifact location is drift-reports/) expire by age.
# The models bucket: a lifecycle filter cannot exclude the served release's prefix, so
# releases expire by tag: infra/scripts/retire-model-releases.sh tags the objects of
# releases that are neither served nor among the newest N, and the bucket policy below
# refuses that tag on the served release whatever runs the script.
locals {
  drift_reports_prefix = "drift-reports/"
  retirement_tag       = { key = "sentiment-retention", value = "expired" }
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  for_each = aws_s3_bucket.data
  bucket   = each.value.id
  rule {
    id     = "noncurrent-versions"
    status = "Enabled"
    filter {}
    expiration {
      expired_object_delete_marker = true
    }
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Drift reports: gone N days after they were written; restorable for a week after that.
  dynamic "rule" {
    for_each = each.key == "mlflow" ? [var.drift_report_retention_days] : []
    content {
      id     = "expire-drift-reports"
      status = "Enabled"
      filter {
        prefix = local.drift_reports_prefix
      }
      expiration {
        days = rule.value
      }
      noncurrent_version_expiration {
        noncurrent_days = 7
      }
    }
  }

  # Retired releases: expiration counts from an object's creation, long past for a release
  # being retired, so tagged objects expire at S3's next daily lifecycle run; they stay
  # restorable (noncurrent versions) for the given days after that.
  dynamic "rule" {
    for_each = each.key == "models" ? [var.retired_release_restorable_days] : []
    content {
      id     = "expire-retired-releases"
      status = "Enabled"
      filter {
        tag {
          key   = local.retirement_tag.key
          value = local.retirement_tag.value
        }
      }
      expiration {
        days = 1
      }
      noncurrent_version_expiration {
        noncurrent_days = rule.value
      }
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.data
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # The served release can never carry the retirement tag (models bucket only).
  dynamic "statement" {
    for_each = each.key == "models" ? [var.model_release] : []
    content {
      sid       = "DenyRetiringTheServedRelease"
      effect    = "Deny"
      actions   = ["s3:PutObjectTagging", "s3:PutObjectVersionTagging"]
      resources = ["${each.value.arn}/releases/${statement.value}/*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "StringEquals"
        variable = "s3:RequestObjectTag/${local.retirement_tag.key}"
        values   = [local.retirement_tag.value]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "data" {
  for_each = aws_s3_bucket.data
  bucket   = each.value.id
  policy   = data.aws_iam_policy_document.tls_only[each.key].json
}
