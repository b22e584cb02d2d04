# Security groups, service discovery and the load balancer in front of the gateway.
resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Load balancer: TLS from allowed clients, gRPC to gateway tasks"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_tls" {
  for_each          = toset(var.allowed_client_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "gRPC over TLS from ${each.value}"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_gateway" {
  security_group_id            = aws_security_group.alb.id
  description                  = "gRPC and health checks to gateway tasks"
  referenced_security_group_id = aws_security_group.gateway.id
  ip_protocol                  = "tcp"
  from_port                    = 50051
  to_port                      = 50051
}

resource "aws_security_group" "gateway" {
  name        = "${var.name}-gateway"
  description = "Gateway tasks: gRPC from the load balancer only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "gateway_from_alb" {
  security_group_id            = aws_security_group.gateway.id
  description                  = "gRPC from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = 50051
  to_port                      = 50051
}

resource "aws_vpc_security_group_egress_rule" "gateway_to_triton" {
  security_group_id            = aws_security_group.gateway.id
  description                  = "Triton gRPC"
  referenced_security_group_id = aws_security_group.triton.id
  ip_protocol                  = "tcp"
  from_port                    = 8001
  to_port                      = 8001
}

resource "aws_vpc_security_group_egress_rule" "gateway_to_db" {
  security_group_id            = aws_security_group.gateway.id
  description                  = "PostgreSQL (audit log, API keys)"
  referenced_security_group_id = var.db_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each          = { gateway = aws_security_group.gateway.id, triton = aws_security_group.triton.id }
  security_group_id = each.value
  description       = "HTTPS to AWS APIs (ECR, S3, Secrets Manager, CloudWatch Logs)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "db_from_gateway" {
  security_group_id            = var.db_security_group_id
  description                  = "PostgreSQL from gateway tasks"
  referenced_security_group_id = aws_security_group.gateway.id
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
}

resource "aws_security_group" "triton" {
  name        = "${var.name}-triton"
  description = "Triton tasks: gRPC from the gateway only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "triton_from_gateway" {
  security_group_id            = aws_security_group.triton.id
  description                  = "Triton gRPC from gateway tasks"
  referenced_security_group_id = aws_security_group.gateway.id
  ip_protocol                  = "tcp"
  from_port                    = 8001
  to_port                      = 8001
}

resource "aws_service_discovery_private_dns_namespace" "main" {
  name        = "${var.name}.internal"
  description = "Service discovery of ${var.name}"
  vpc         = var.vpc_id
}

resource "aws_service_discovery_service" "main" {
  for_each = toset(["triton", "gateway"])
  name     = each.key

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.main.id
    routing_policy = "MULTIVALUE"
    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  health_check_custom_config {
    failure_threshold = 1
  }
}

resource "aws_lb" "gateway" {
  #checkov:skip=CKV2_AWS_76:the attached WAF ACL includes AWSManagedRulesKnownBadInputsRuleSet (Log4j); the check does not follow the for_each association
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 120

  access_logs {
    bucket  = var.access_logs_bucket
    prefix  = "alb"
    enabled = true
  }
}

resource "aws_lb_target_group" "gateway" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the hop to the gateway stays inside private subnets, restricted by security groups to the ALB
  name             = "${var.name}-grpc"
  port             = 50051
  protocol         = "HTTP"
  protocol_version = "GRPC"
  target_type      = "ip"
  vpc_id           = var.vpc_id
  # ECS sends SIGTERM once deregistration ends: calls in flight through the load balancer
  # get as long as the gateway's drain (gateway-stop.json).
  deregistration_delay = local.gateway_stop.deregistration_delay_s

  health_check {
    enabled             = true
    path                = "/grpc.health.v1.Health/Check"
    matcher             = "0"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "tls" {
  load_balancer_arn = aws_lb.gateway.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway.arn
  }
}

resource "aws_wafv2_web_acl" "gateway" {
  name  = "${var.name}-gateway"
  scope = "REGIONAL"

  default_action {
    allow {}
  }

  # Request bodies are binary protobuf: body-inspecting rule sets (Common) would misfire.
  rule {
    name     = "known-bad-inputs"
    priority = 1
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "ip-reputation"
    priority = 2
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "ip-reputation"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-gateway"
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "gateway" {
  resource_arn = aws_lb.gateway.arn
  web_acl_arn  = aws_wafv2_web_acl.gateway.arn
}

resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_wafv2_web_acl_logging_configuration" "gateway" {
  resource_arn            = aws_wafv2_web_acl.gateway.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]
}

# The migrate task's own group: PostgreSQL to the database, HTTPS to AWS APIs (ECR,
# Secrets Manager, CloudWatch Logs), nothing in.
resource "aws_security_group" "migrate" {
  #checkov:skip=CKV2_AWS_5:attached by aws ecs run-task (infra/scripts/migrate.sh), which the check cannot see
  name        = "${var.name}-migrate"
  description = "Migrate task: PostgreSQL and AWS APIs out, nothing in"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "migrate_to_db" {
  security_group_id            = aws_security_group.migrate.id
  description                  = "PostgreSQL (migrations, the gateway's role and grants)"
  referenced_security_group_id = var.db_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
}

resource "aws_vpc_security_group_egress_rule" "migrate_https" {
  security_group_id = aws_security_group.migrate.id
  description       = "HTTPS to AWS APIs (ECR, Secrets Manager, CloudWatch Logs)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "db_from_migrate" {
  security_group_id            = var.db_security_group_id
  description                  = "PostgreSQL from the migrate task"
  referenced_security_group_id = aws_security_group.migrate.id
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
}
