# Triton on GPU instances (EC2 capacity provider) and the gateway on Fargate, each its own
# ECS service with rolling deployments, circuit-breaker rollback and target-tracking
# autoscaling. The gateway finds Triton through Cloud Map (triton.<namespace>:8001).
locals {
  release_uri      = "s3://${var.models_bucket}/releases/${var.model_release}"
  triton_host      = "triton.${aws_service_discovery_private_dns_namespace.main.name}"
  container_logs   = { for key in ["triton", "gateway", "migrate"] : key => "/${var.name}/${key}" }
  gateway_uid      = "10001"
  triton_uid       = "1000"
  model_sync_paths = "/models/sentiment_tokenizer"
  # The gateway's stop timing, written from gateway.settings by
  # scripts/gen_infra_settings.py (`make lint` fails when it is stale): the stop timeout
  # and the drain and flush times the gateway is given come from one place.
  gateway_stop = jsondecode(file("${path.module}/gateway-stop.json"))
  # SENTIMENT_AUDIT_SPOOL_DIR: the root of every gateway's spool, an EFS mount (spool.tf).
  audit_spool_dir = "/var/lib/sentiment/audit-spool"
}

resource "aws_cloudwatch_log_group" "containers" {
  for_each          = local.container_logs
  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_ecs_task_definition" "triton" {
  family                   = "${var.name}-triton"
  requires_compatibilities = ["EC2"]
  network_mode             = "awsvpc"
  cpu                      = var.triton_cpu
  memory                   = var.triton_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.triton.arn

  # Triton copies an s3:// repository to a local temp folder; the root fs stays read-only.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode(concat([merge({
    name                   = "triton"
    image                  = var.triton_image
    essential              = true
    user                   = "${local.triton_uid}:${local.triton_uid}"
    readonlyRootFilesystem = true
    privileged             = false
    resourceRequirements   = [{ type = "GPU", value = "1" }]
    linuxParameters = {
      sharedMemorySize   = var.triton_shm_mib
      initProcessEnabled = true
    }
    ulimits = [
      { name = "memlock", softLimit = -1, hardLimit = -1 },
      { name = "stack", softLimit = 67108864, hardLimit = 67108864 },
    ]
    portMappings = [
      { containerPort = 8000, protocol = "tcp", name = "http" },
      { containerPort = 8001, protocol = "tcp", name = "grpc" },
      { containerPort = 8002, protocol = "tcp", name = "metrics" },
    ]
    environment = [
      { name = "TRITON_MODEL_REPOSITORY", value = local.release_uri },
      { name = "TRITON_EXIT_TIMEOUT_SECS", value = "60" },
      { name = "AWS_DEFAULT_REGION", value = var.region },
      { name = "AWS_REGION", value = var.region },
    ]
    # The model-repository API (load, unload, index) answers only to this key; health,
    # metadata, config, statistics and inference (the gateway) need none.
    secrets = [
      { name = "TRITON_ADMIN_KEY", valueFrom = aws_secretsmanager_secret.triton_admin_key.arn },
    ]
    mountPoints = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    healthCheck = {
      command     = ["CMD", "python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=4)"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 300
    }
    stopTimeout = 120
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.containers["triton"].name
        awslogs-region        = var.region
        awslogs-stream-prefix = "triton"
      }
    }
  }, local.triton_trace_arguments)], local.trace_sidecars["triton"]))
}

resource "aws_ecs_service" "triton" {
  name                               = "${var.name}-triton"
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.triton.arn
  desired_count                      = var.triton_desired_count
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"

  capacity_provider_strategy {
    capacity_provider = var.gpu_capacity_provider
    weight            = 1
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.triton.id]
    assign_public_ip = false
  }

  ordered_placement_strategy {
    type  = "spread"
    field = "attribute:ecs.availability-zone"
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  service_registries {
    registry_arn = aws_service_discovery_service.main["triton"].arn
  }

  lifecycle {
    ignore_changes = [desired_count] # owned by autoscaling
  }
}

resource "aws_ecs_task_definition" "gateway" {
  family                   = "${var.name}-gateway"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.gateway_cpu
  memory                   = var.gateway_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.gateway.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # Writable places of a read-only root filesystem: the audit spool (EFS, shared by every
  # gateway task and outliving each), the served tokenizer and /tmp (task storage). Nothing
  # else the gateway writes lives in its state dir on ECS (the database is PostgreSQL).
  volume {
    name = "audit-spool"
    efs_volume_configuration {
      file_system_id     = aws_efs_file_system.audit_spool.id
      transit_encryption = "ENABLED"
      authorization_config {
        access_point_id = aws_efs_access_point.audit_spool.id
        iam             = "ENABLED"
      }
    }
  }
  volume {
    name = "models"
  }
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode(concat([
    {
      # Copies the release's tokenizer model, which the gateway uses to validate and
      # count tokens exactly like the served model; exits before the gateway starts.
      name                   = "model-sync"
      image                  = var.model_sync_image
      essential              = false
      user                   = "${local.gateway_uid}:${local.gateway_uid}"
      readonlyRootFilesystem = true
      privileged             = false
      command                = ["s3", "sync", "${local.release_uri}/sentiment_tokenizer", local.model_sync_paths, "--only-show-errors"]
      environment            = [{ name = "HOME", value = "/tmp" }, { name = "AWS_REGION", value = var.region }]
      mountPoints = [
        { sourceVolume = "models", containerPath = "/models", readOnly = false },
        { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.containers["gateway"].name
          awslogs-region        = var.region
          awslogs-stream-prefix = "model-sync"
        }
      }
    },
    {
      name                   = "gateway"
      image                  = var.gateway_image
      essential              = true
      user                   = "${local.gateway_uid}:${local.gateway_uid}"
      readonlyRootFilesystem = true
      privileged             = false
      command                = ["gateway"]
      dependsOn              = [{ containerName = "model-sync", condition = "SUCCESS" }]
      linuxParameters        = { initProcessEnabled = true }
      portMappings = [
        { containerPort = 50051, protocol = "tcp", name = "grpc" },
        { containerPort = 9102, protocol = "tcp", name = "metrics" },
      ]
      environment = concat([
        { name = "SENTIMENT_TRITON_HOST", value = local.triton_host },
        { name = "SENTIMENT_TRITON_GRPC_PORT", value = "8001" },
        { name = "SENTIMENT_MODEL_REPOSITORY", value = "/models" },
        { name = "SENTIMENT_STATE_DIR", value = "/var/lib/sentiment" },
        { name = "SENTIMENT_AUDIT_SPOOL_DIR", value = local.audit_spool_dir },
        # On EFS too: a replacement task starting while the database is unreachable
        # authenticates from the key table its predecessors last saw (hashes only).
        { name = "SENTIMENT_API_KEY_SNAPSHOT_FILE", value = "${local.audit_spool_dir}/api-keys.snapshot.json" },
        # The gateway's own role (insert and read audit and drift rows, read keys), logging
        # in with IAM tokens signed by the task role: no password exists, none rotates.
        # The schema is the migrate task's job (sentiment db upgrade, as the owner).
        { name = "SENTIMENT_DB_HOST", value = var.db_host },
        { name = "SENTIMENT_DB_PORT", value = tostring(var.db_port) },
        { name = "SENTIMENT_DB_NAME", value = var.db_name },
        { name = "SENTIMENT_DB_USER", value = var.db_gateway_username },
        { name = "SENTIMENT_DB_SSLMODE", value = "require" },
        { name = "SENTIMENT_DATABASE_IAM_AUTH", value = "true" },
        { name = "SENTIMENT_DATABASE_MIGRATE_ON_START", value = "false" },
        { name = "AWS_REGION", value = var.region },
        { name = "AWS_DEFAULT_REGION", value = var.region },
        { name = "SENTIMENT_GATEWAY_DRAIN_SECONDS", value = tostring(local.gateway_stop.drain_seconds) },
        { name = "SENTIMENT_AUDIT_CLOSE_TIMEOUT_S", value = tostring(local.gateway_stop.audit_close_timeout_s) },
        { name = "SENTIMENT_AUDIT_LEASE_TTL_S", value = tostring(local.gateway_stop.audit_lease_ttl_s) },
        { name = "SENTIMENT_AUDIT_RECOVERY_INTERVAL_S", value = tostring(local.gateway_stop.audit_recovery_interval_s) },
      ], local.gateway_trace_environment)
      secrets = [
        { name = "SENTIMENT_API_KEY_PEPPER", valueFrom = aws_secretsmanager_secret.api_key_pepper.arn },
      ]
      mountPoints = [
        { sourceVolume = "audit-spool", containerPath = local.audit_spool_dir, readOnly = false },
        { sourceVolume = "models", containerPath = "/models", readOnly = true },
        { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
      ]
      healthCheck = {
        command     = ["CMD", "python", "/usr/local/bin/grpc-health-check"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 60
      }
      # SIGTERM, then drain + drift close + audit flush (gateway.settings'
      # stop_budget_seconds) and a margin, before ECS sends SIGKILL.
      stopTimeout = local.gateway_stop.stop_timeout_s
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.containers["gateway"].name
          awslogs-region        = var.region
          awslogs-stream-prefix = "gateway"
        }
      }
    },
  ], local.trace_sidecars["gateway"]))
}

# One-off task, run before a deploy that may change the schema (infra/scripts/migrate.sh,
# docs/deployment.md): `sentiment db upgrade` as the tables' owner (the RDS master user,
# whose password only this task's execution role may read), which also creates the
# gateway's role (IAM login) when missing and grants it exactly the gateway's rights.
resource "aws_ecs_task_definition" "migrate" {
  family                   = "${var.name}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.migrate_execution.arn
  task_role_arn            = aws_iam_role.migrate.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "state"
  }
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "migrate"
    image                  = var.gateway_image
    essential              = true
    user                   = "${local.gateway_uid}:${local.gateway_uid}"
    readonlyRootFilesystem = true
    privileged             = false
    command                = ["db", "upgrade", "--gateway-role", var.db_gateway_username, "--create-role", "iam"]
    linuxParameters        = { initProcessEnabled = true }
    environment = [
      { name = "SENTIMENT_STATE_DIR", value = "/var/lib/sentiment" },
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
      { sourceVolume = "state", containerPath = "/var/lib/sentiment", readOnly = false },
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.containers["migrate"].name
        awslogs-region        = var.region
        awslogs-stream-prefix = "migrate"
      }
    }
  }])
}

resource "aws_ecs_service" "gateway" {
  name                               = "${var.name}-gateway"
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.gateway.arn
  desired_count                      = var.gateway_desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST" # EFS volumes need 1.4.0 or later (LATEST is)
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 90
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.gateway.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.gateway.arn
    container_name   = "gateway"
    container_port   = 50051
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  service_registries {
    registry_arn = aws_service_discovery_service.main["gateway"].arn
  }

  depends_on = [aws_lb_listener.tls]

  lifecycle {
    ignore_changes = [desired_count] # owned by autoscaling
  }
}

# Target tracking on CPU: the tokenizer (Triton) and request handling (gateway) are CPU
# bound before the GPU saturates at these sizes. Triton scale-out adds GPU instances
# through the capacity provider's managed scaling.
locals {
  scaling = {
    triton = {
      service = aws_ecs_service.triton.name, min = var.triton_desired_count,
      max     = var.triton_max_count, cpu = 70
    }
    gateway = {
      service = aws_ecs_service.gateway.name, min = var.gateway_desired_count,
      max     = var.gateway_max_count, cpu = 60
    }
  }
}

resource "aws_appautoscaling_target" "service" {
  for_each           = local.scaling
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${each.value.service}"
  min_capacity       = each.value.min
  max_capacity       = each.value.max
}

resource "aws_appautoscaling_policy" "cpu" {
  for_each           = local.scaling
  name               = "${each.key}-cpu-target"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service[each.key].service_namespace
  scalable_dimension = aws_appautoscaling_target.service[each.key].scalable_dimension
  resource_id        = aws_appautoscaling_target.service[each.key].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = each.value.cpu
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
