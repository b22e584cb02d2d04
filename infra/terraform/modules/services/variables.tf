variable "name" {
  description = "Name prefix."
  type        = string
}

variable "region" {
  description = "AWS region (logs, S3 client)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the services."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks (no public IPs)."
  type        = list(string)
}

variable "cluster_arn" {
  description = "ECS cluster ARN."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster name (autoscaling resource ids)."
  type        = string
}

variable "gpu_capacity_provider" {
  description = "Capacity provider of the GPU instances (Triton)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for logs, secrets, the model bucket, the audit spool (EFS) and its backups."
  type        = string
}

variable "log_retention_days" {
  description = "Days container logs are kept."
  type        = number
}

variable "access_logs_bucket" {
  description = "Bucket for the load balancer's access logs (prefix alb/)."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of the TLS listener."
  type        = string
}

variable "allowed_client_cidrs" {
  description = "Client networks allowed to reach the TLS listener."
  type        = list(string)
}

variable "deletion_protection" {
  description = "Protect the load balancer from deletion."
  type        = bool
}

variable "gateway_image" {
  description = "Gateway image (ECR URL with immutable tag)."
  type        = string
}

variable "triton_image" {
  description = "Triton image (ECR URL with immutable tag)."
  type        = string
}

variable "model_sync_image" {
  description = "AWS CLI image that copies the served tokenizer for the gateway."
  type        = string
  default     = "public.ecr.aws/aws-cli/aws-cli:2.22.35"
}

variable "models_bucket" {
  description = "Bucket of model releases."
  type        = string
}

variable "models_bucket_arn" {
  description = "ARN of the model release bucket."
  type        = string
}

variable "model_release" {
  description = "Release id Triton and the gateway serve (s3://<bucket>/releases/<id>)."
  type        = string
}

variable "db_host" {
  description = "Database address."
  type        = string
}

variable "db_port" {
  description = "Database port."
  type        = number
}

variable "db_name" {
  description = "Database name."
  type        = string
}

variable "db_username" {
  description = "Database owner (the RDS master user): the migrate task connects as it."
  type        = string
}

variable "db_secret_arn" {
  description = "RDS-managed master secret (JSON key password): the migrate task's only."
  type        = string
}

variable "db_gateway_username" {
  description = "PostgreSQL role of the gateway (IAM authentication; created by the migrate task)."
  type        = string
  default     = "sentiment_gateway"
}

variable "db_resource_id" {
  description = "DbiResourceId of the database (rds-db:connect ARN of the gateway's role)."
  type        = string
}

variable "account_id" {
  description = "AWS account id (rds-db:connect ARN of the gateway's role)."
  type        = string
}

variable "db_security_group_id" {
  description = "Security group of the database (gets ingress from the gateway)."
  type        = string
}

variable "triton_cpu" {
  description = "CPU units of a Triton task (g5/g6.xlarge have 4096)."
  type        = number
  default     = 3072
}

variable "triton_memory" {
  description = "Memory (MiB) of a Triton task (g5/g6.xlarge have 16384)."
  type        = number
  default     = 12288
}

variable "triton_shm_mib" {
  description = "Size of /dev/shm for Triton's Python models (tokenizer tensors pass through it)."
  type        = number
  default     = 1024
}

variable "triton_desired_count" {
  description = "Triton tasks at rest."
  type        = number
}

variable "triton_max_count" {
  description = "Most Triton tasks."
  type        = number
}

variable "gateway_cpu" {
  description = "CPU units of a gateway task."
  type        = number
  default     = 1024
}

variable "gateway_memory" {
  description = "Memory (MiB) of a gateway task."
  type        = number
  default     = 2048
}

variable "gateway_desired_count" {
  description = "Gateway tasks at rest."
  type        = number
}

variable "gateway_max_count" {
  description = "Most gateway tasks."
  type        = number
}

variable "backup_retention_days" {
  description = "Days the audit spool's daily backups are kept (as the database's)."
  type        = number
}

variable "traces_exporter" {
  description = "Where the tasks' traces go: \"none\" (tracing off), \"xray\" (AWS X-Ray) or \"otlp\" (the OTLP/HTTP collector at otlp_endpoint), through an ADOT collector sidecar (tracing.tf)."
  type        = string
  default     = "none"
  validation {
    condition     = contains(["none", "xray", "otlp"], var.traces_exporter)
    error_message = "traces_exporter must be none, xray or otlp."
  }
}

variable "otlp_endpoint" {
  description = "Base URL of the OTLP/HTTP collector traces go to when traces_exporter is \"otlp\" (spans to <url>/v1/traces)."
  type        = string
  default     = ""
}

variable "trace_sample_ratio" {
  description = "Share of new traces the gateway samples (OTEL_TRACES_SAMPLER_ARG, parent-based: a caller's sampled traceparent is followed)."
  type        = number
  default     = 0.05
}

variable "adot_collector_image" {
  description = "AWS Distro for OpenTelemetry collector image of the tracing sidecars."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0"
}
