variable "name" {
  description = "Name prefix."
  type        = string
}

variable "region" {
  description = "AWS region (SigV4 remote write, logs)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the Prometheus agent."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets of the Prometheus agent task."
  type        = list(string)
}

variable "cluster_arn" {
  description = "ECS cluster running the agent (Fargate)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the workspace and log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Days agent and workspace logs are kept."
  type        = number
}

variable "discovery_domain" {
  description = "Cloud Map namespace: targets are <job>.<domain>."
  type        = string
}

variable "scrape_security_groups" {
  description = "Scrape jobs: security group and metrics port of each target service."
  type = map(object({
    security_group_id = string
    port              = number
  }))
}

variable "prometheus_image" {
  description = "Prometheus image run in agent mode."
  type        = string
  default     = "quay.io/prometheus/prometheus:v2.55.1"
}

variable "enable_managed_grafana" {
  description = "Create the Amazon Managed Grafana workspace."
  type        = bool
}
