output "load_balancer_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.gateway.dns_name
}

output "service_names" {
  description = "ECS service names."
  value       = { triton = aws_ecs_service.triton.name, gateway = aws_ecs_service.gateway.name }
}

output "discovery_domain" {
  description = "Private DNS namespace: triton.<domain>, gateway.<domain>."
  value       = aws_service_discovery_private_dns_namespace.main.name
}

output "scrape_target_security_group_ids" {
  description = "Security groups and metrics ports that Prometheus must reach."
  value = {
    triton  = { security_group_id = aws_security_group.triton.id, port = 8002 }
    gateway = { security_group_id = aws_security_group.gateway.id, port = 9102 }
  }
}

output "triton_admin_key_secret_arn" {
  description = "Secrets Manager secret holding the header key of Triton's model-repository API."
  value       = aws_secretsmanager_secret.triton_admin_key.arn
}

output "migrate_task" {
  description = "What `aws ecs run-task` needs to run the migrate task (infra/scripts/migrate.sh)."
  value = {
    task_definition   = aws_ecs_task_definition.migrate.arn
    security_group_id = aws_security_group.migrate.id
    subnet_ids        = var.private_subnet_ids
  }
}

output "db_gateway_username" {
  description = "PostgreSQL role of the gateway (IAM authentication)."
  value       = var.db_gateway_username
}
