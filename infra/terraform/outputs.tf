output "gateway_endpoint" {
  description = "DNS name of the load balancer: clients connect with TLS on port 443 (gRPC)."
  value       = module.services.load_balancer_dns_name
}

output "ecr_repositories" {
  description = "Image repositories (push with immutable tags)."
  value       = module.registry.repository_urls
}

output "models_bucket" {
  description = "Bucket holding model releases (s3://<bucket>/releases/<id>/)."
  value       = module.storage.models_bucket
}

output "mlflow_artifacts_bucket" {
  description = "Bucket for MLflow artifacts (MLFLOW artifact root)."
  value       = module.storage.mlflow_bucket
}

output "database_endpoint" {
  description = "Private address of the audit database."
  value       = module.database.address
}

output "cluster_name" {
  description = "ECS cluster name (aws ecs update-service --cluster ...)."
  value       = module.gpu_cluster.cluster_name
}

output "service_names" {
  description = "ECS service names of Triton and the gateway."
  value       = module.services.service_names
}

output "triton_admin_key_secret_arn" {
  description = "Secret with the header key of Triton's model-repository API (load, unload, index)."
  value       = module.services.triton_admin_key_secret_arn
}

output "prometheus_workspace_endpoint" {
  description = "Amazon Managed Prometheus query endpoint (Grafana data source)."
  value       = module.monitoring.prometheus_endpoint
}

output "grafana_endpoint" {
  description = "Amazon Managed Grafana URL (empty when disabled)."
  value       = module.monitoring.grafana_endpoint
}

output "served_model_release" {
  description = "Release id Triton serves (infra/scripts/retire-model-releases.sh never retires it)."
  value       = var.model_release
}

output "drift_reports_artifact_location" {
  description = "MLflow artifact location of the drift experiment: its objects expire after drift_report_retention_days."
  value       = module.storage.drift_reports_artifact_location
}

output "retention_job" {
  description = "EventBridge Scheduler schedule and task definition family of the retention job."
  value = {
    schedule               = module.retention.schedule_name
    task_definition_family = module.retention.task_definition_family
    security_group_id      = module.retention.security_group_id
    log_group              = module.retention.log_group
  }
}

output "migrate_task" {
  description = "Task definition, security group and subnets of the one-off migrate task (infra/scripts/migrate.sh)."
  value       = module.services.migrate_task
}
