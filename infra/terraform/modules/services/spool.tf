# The gateway's audit spool on EFS: acknowledged records not yet in the database outlive
# the task that wrote them (deploy, scale-in, health-check replacement). Every gateway task
# mounts the same root through one access point and writes its own subfolder under a lease;
# a surviving or new task drains the subfolder of a task that is gone (see
# docs/reliability.md). Encrypted at rest with the deployment's key and in transit (TLS
# mount); only the gateway's task role may mount it, only through the access point.
resource "aws_efs_file_system" "audit_spool" {
  creation_token   = "${var.name}-audit-spool"
  encrypted        = true
  kms_key_id       = var.kms_key_arn
  performance_mode = "generalPurpose"
  # Many small fsync'd appends in bursts: pay per use, no burst credits to run out.
  throughput_mode = "elastic"
  tags            = { Name = "${var.name}-audit-spool" }
}

resource "aws_efs_mount_target" "audit_spool" {
  count           = length(var.private_subnet_ids)
  file_system_id  = aws_efs_file_system.audit_spool.id
  subnet_id       = var.private_subnet_ids[count.index]
  security_groups = [aws_security_group.audit_spool.id]
}

# The image's user (infra/docker/gateway.Dockerfile, uid 10001) owns the spool root; the
# access point makes every mount act as that user whatever the client claims.
resource "aws_efs_access_point" "audit_spool" {
  file_system_id = aws_efs_file_system.audit_spool.id

  posix_user {
    uid = tonumber(local.gateway_uid)
    gid = tonumber(local.gateway_uid)
  }

  root_directory {
    path = "/audit-spool"
    creation_info {
      owner_uid   = tonumber(local.gateway_uid)
      owner_gid   = tonumber(local.gateway_uid)
      permissions = "0750"
    }
  }

  tags = { Name = "${var.name}-audit-spool" }
}

# Without a file system policy EFS lets any client that reaches a mount target mount it;
# this one admits the gateway's task role, through the access point, over TLS only.
data "aws_iam_policy_document" "audit_spool_file_system" {
  statement {
    sid       = "GatewayTasksThroughTheAccessPoint"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.audit_spool.arn]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.gateway.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.audit_spool.arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["*"]
    resources = [aws_efs_file_system.audit_spool.arn]
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
}

resource "aws_efs_file_system_policy" "audit_spool" {
  file_system_id = aws_efs_file_system.audit_spool.id
  policy         = data.aws_iam_policy_document.audit_spool_file_system.json
}

# The task role's side of the same grant (IAM authorization is on in the task's volume).
data "aws_iam_policy_document" "gateway_audit_spool" {
  statement {
    sid       = "MountTheAuditSpool"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.audit_spool.arn]
    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.audit_spool.arn]
    }
  }
}

resource "aws_iam_role_policy" "gateway_audit_spool" {
  name   = "mount-audit-spool"
  role   = aws_iam_role.gateway.id
  policy = data.aws_iam_policy_document.gateway_audit_spool.json
}

# NFS from the gateway tasks only.
resource "aws_security_group" "audit_spool" {
  name        = "${var.name}-audit-spool"
  description = "Audit spool (EFS): NFS from gateway tasks only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "audit_spool_from_gateway" {
  security_group_id            = aws_security_group.audit_spool.id
  description                  = "NFS from gateway tasks"
  referenced_security_group_id = aws_security_group.gateway.id
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
}

resource "aws_vpc_security_group_egress_rule" "gateway_to_audit_spool" {
  security_group_id            = aws_security_group.gateway.id
  description                  = "NFS to the audit spool (EFS mount targets)"
  referenced_security_group_id = aws_security_group.audit_spool.id
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
}

# Backups (AWS Backup, daily). Records normally stay in the spool for well under a second;
# a backup matters when the database was unreachable for long and the file system is then
# lost or wrongly emptied. Replaying restored records is safe: the writer's inserts are
# idempotent by audit id.
resource "aws_backup_vault" "audit_spool" {
  name        = "${var.name}-audit-spool"
  kms_key_arn = var.kms_key_arn
}

resource "aws_backup_plan" "audit_spool" {
  name = "${var.name}-audit-spool"

  rule {
    rule_name         = "daily"
    target_vault_name = aws_backup_vault.audit_spool.name
    schedule          = "cron(30 3 * * ? *)"
    lifecycle {
      delete_after = var.backup_retention_days
    }
  }
}

data "aws_iam_policy_document" "backup_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "backup" {
  name               = "${var.name}-audit-spool-backup"
  assume_role_policy = data.aws_iam_policy_document.backup_assume.json
}

resource "aws_iam_role_policy_attachment" "backup" {
  role       = aws_iam_role.backup.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
}

resource "aws_backup_selection" "audit_spool" {
  name         = "${var.name}-audit-spool"
  plan_id      = aws_backup_plan.audit_spool.id
  iam_role_arn = aws_iam_role.backup.arn
  resources    = [aws_efs_file_system.audit_spool.arn]
}
