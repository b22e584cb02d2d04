# Metrics: Amazon Managed Service for Prometheus, fed by a Prometheus agent task that
# scrapes Triton (:8002) and the gateway (:9102) through Cloud Map DNS; Amazon Managed
# Grafana reads the workspace. Dashboards and rules come from monitoring/ (see
# docs/deployment.md for importing them).
resource "aws_cloudwatch_log_group" "prometheus" {
  for_each          = toset(["agent", "workspace"])
  name              = "/${var.name}/prometheus-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_prometheus_workspace" "main" {
  alias       = var.name
  kms_key_arn = var.kms_key_arn

  logging_configuration {
    log_group_arn = "${aws_cloudwatch_log_group.prometheus["workspace"].arn}:*"
  }
}

locals {
  prometheus_config = yamlencode({
    global = { scrape_interval = "15s", evaluation_interval = "15s" }
    scrape_configs = [
      for job, target in var.scrape_security_groups : {
        job_name        = job
        dns_sd_configs  = [{ names = ["${job}.${var.discovery_domain}"], type = "A", port = target.port }]
        relabel_configs = [{ target_label = "deployment", replacement = var.name }]
      }
    ]
    remote_write = [{
      url   = "${aws_prometheus_workspace.main.prometheus_endpoint}api/v1/remote_write"
      sigv4 = { region = var.region }
    }]
  })
}

resource "aws_security_group" "prometheus" {
  name        = "${var.name}-prometheus"
  description = "Prometheus agent: scrapes metrics ports, writes to AMP over HTTPS"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "prometheus_scrape" {
  for_each                     = var.scrape_security_groups
  security_group_id            = aws_security_group.prometheus.id
  description                  = "scrape ${each.key} metrics"
  referenced_security_group_id = each.value.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

resource "aws_vpc_security_group_egress_rule" "prometheus_https" {
  security_group_id = aws_security_group.prometheus.id
  description       = "HTTPS to AMP remote write, ECR and CloudWatch Logs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "metrics_from_prometheus" {
  for_each                     = var.scrape_security_groups
  security_group_id            = each.value.security_group_id
  description                  = "metrics scrape from the Prometheus agent"
  referenced_security_group_id = aws_security_group.prometheus.id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

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
  name               = "${var.name}-prometheus-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role" "agent" {
  name               = "${var.name}-prometheus-agent"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "remote_write" {
  statement {
    actions   = ["aps:RemoteWrite"]
    resources = [aws_prometheus_workspace.main.arn]
  }
}

resource "aws_iam_role_policy" "agent" {
  name   = "amp-remote-write"
  role   = aws_iam_role.agent.id
  policy = data.aws_iam_policy_document.remote_write.json
}

resource "aws_ecs_task_definition" "agent" {
  family                   = "${var.name}-prometheus-agent"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.agent.arn

  volume {
    name = "data"
  }

  container_definitions = jsonencode([{
    name                   = "prometheus"
    image                  = var.prometheus_image
    essential              = true
    user                   = "65534:65534"
    readonlyRootFilesystem = true
    privileged             = false
    # The config is rendered here (no file mounts on Fargate) and written to the volume.
    entryPoint = ["/bin/sh", "-c"]
    command = [join(" ", [
      "printf '%s' \"$PROMETHEUS_CONFIG\" > /prometheus/prometheus.yml &&",
      "exec /bin/prometheus --enable-feature=agent --config.file=/prometheus/prometheus.yml",
      "--storage.agent.path=/prometheus/wal",
    ])]
    environment = [{ name = "PROMETHEUS_CONFIG", value = local.prometheus_config }]
    mountPoints = [{ sourceVolume = "data", containerPath = "/prometheus", readOnly = false }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.prometheus["agent"].name
        awslogs-region        = var.region
        awslogs-stream-prefix = "prometheus"
      }
    }
  }])
}

resource "aws_ecs_service" "agent" {
  name             = "${var.name}-prometheus-agent"
  cluster          = var.cluster_arn
  task_definition  = aws_ecs_task_definition.agent.arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.prometheus.id]
    assign_public_ip = false
  }
}

data "aws_iam_policy_document" "grafana_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["grafana.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "grafana" {
  count              = var.enable_managed_grafana ? 1 : 0
  name               = "${var.name}-grafana"
  assume_role_policy = data.aws_iam_policy_document.grafana_assume.json
}

data "aws_iam_policy_document" "grafana_query" {
  statement {
    actions   = ["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"]
    resources = [aws_prometheus_workspace.main.arn]
  }

  statement {
    actions   = ["aps:ListWorkspaces", "aps:DescribeWorkspace"]
    resources = ["arn:aws:aps:${var.region}:*:workspace/*"]
  }
}

resource "aws_iam_role_policy" "grafana" {
  count  = var.enable_managed_grafana ? 1 : 0
  name   = "query-amp"
  role   = aws_iam_role.grafana[0].id
  policy = data.aws_iam_policy_document.grafana_query.json
}

resource "aws_grafana_workspace" "main" {
  count                    = var.enable_managed_grafana ? 1 : 0
  name                     = var.name
  account_access_type      = "CURRENT_ACCOUNT"
  authentication_providers = ["AWS_SSO"]
  permission_type          = "CUSTOMER_MANAGED"
  data_sources             = ["PROMETHEUS"]
  role_arn                 = aws_iam_role.grafana[0].arn
}
