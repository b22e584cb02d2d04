# The daily retention job: `sentiment retention apply` in the pipeline image, as a one-off
# Fargate task that EventBridge Scheduler starts. It prunes old drift samples, drift results
# and audit records in batches (see the README's retention settings, whose defaults apply:
# the task sets no SENTIMENT_RETENTION_* variable), connecting as the database owner (the
# RDS-managed master user, the same secret the gateway reads).
locals {
  log_group = "/${var.name}/retention"
  uid       = "10001" # the pipeline image's user
}

resource "aws_cloudwatch_log_group" "retention" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_ecs_task_definition" "retention" {
  family                   = "${var.name}-retention"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # Writable places of a read-only root filesystem. The state volume is empty on each run:
  # on ECS drift reports live in S3 (lifecycle rules) and releases in the models bucket.
  volume {
    name = "state"
  }
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "retention"
    image                  = var.pipeline_image
    essential              = true
    user                   = "${local.uid}:${local.uid}"
    readonlyRootFilesystem = true
    privileged             = false
    # The image's entry point (infra/scripts/pipeline-job.sh) runs `sentiment` through
    # infra/docker/gateway_entrypoint.py, which builds SENTIMENT_DATABASE_URL from these.
    command         = ["sentiment", "retention", "apply"]
    linuxParameters = { initProcessEnabled = true }
    environment = [
      { name = "SENTIMENT_STATE_DIR", value = "/work/state" },
      { name = "SENTIMENT_DB_HOST", value = var.db_host },
      { name = "SENTIMENT_DB_PORT", value = tostring(var.db_port) },
      { name = "SENTIMENT_DB_NAME", value = var.db_name },
      { name = "SENTIMENT_DB_USER", value = var.db_username },
      { name = "SENTIMENT_DB_SSLMODE", value = "require" },
      { name = "HOME", value = "/tmp" },
    ]
    secrets = [
      { name = "SENTIMENT_DB_PASSWORD", valueFrom = "${var.db_secret_arn}:password::" },
    ]
    mountPoints = [
      { sourceVolume = "state", containerPath = "/work/state", readOnly = false },
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
    stopTimeout = 120 # a batch in flight finishes; the next run resumes where this stopped
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.retention.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "retention"
      }
    }
  }])
}

resource "aws_scheduler_schedule" "retention" {
  #checkov:skip=CKV_AWS_297:the schedule carries no payload (an ECS target without input); its task definition and ids are not secret
  name                         = "${var.name}-retention"
  description                  = "sentiment retention apply, daily"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = "UTC"
  state                        = var.enabled ? "ENABLED" : "DISABLED"

  flexible_time_window {
    mode                      = "FLEXIBLE"
    maximum_window_in_minutes = 30
  }

  target {
    arn      = var.cluster_arn
    role_arn = aws_iam_role.scheduler.arn

    ecs_parameters {
      task_definition_arn = aws_ecs_task_definition.retention.arn
      launch_type         = "FARGATE"
      platform_version    = "LATEST"
      task_count          = 1

      network_configuration {
        subnets          = var.private_subnet_ids
        security_groups  = [aws_security_group.retention.id]
        assign_public_ip = false
      }
    }

    # Retries cover starting the task (capacity, throttling), not a failed run: that waits
    # for the next day's run, which resumes the batched deletes.
    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 3
    }
  }
}
