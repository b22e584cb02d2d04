variable "region" {
  description = "AWS region of the deployment."
  type        = string
  default     = "us-east-1"
}

variable "environment" {
  description = "Environment name (dev, prod): prefixes every resource name."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Availability zones used, by name (one public and one private subnet each)."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b"]
}

variable "certificate_arn" {
  description = "ACM certificate for the load balancer's TLS listener."
  type        = string
}

variable "allowed_client_cidrs" {
  description = "Client networks allowed to reach the gateway's TLS listener."
  type        = list(string)
}

variable "gpu_instance_types" {
  description = "GPU instance types of the Triton capacity provider (g5/g6: one NVIDIA A10G/L4 each)."
  type        = list(string)
  default     = ["g5.xlarge", "g6.xlarge"]
}

variable "gpu_instances_max" {
  description = "Most GPU instances the capacity provider may run."
  type        = number
  default     = 4
}

variable "triton_desired_count" {
  description = "Triton tasks at rest (one GPU each)."
  type        = number
  default     = 2
}

variable "triton_max_count" {
  description = "Most Triton tasks autoscaling may run."
  type        = number
  default     = 4
}

variable "gateway_desired_count" {
  description = "Gateway tasks at rest."
  type        = number
  default     = 2
}

variable "gateway_max_count" {
  description = "Most gateway tasks autoscaling may run."
  type        = number
  default     = 8
}

variable "gateway_image_tag" {
  description = "Tag of the gateway image in its ECR repository (immutable)."
  type        = string
}

variable "triton_image_tag" {
  description = "Tag of the Triton image in its ECR repository (immutable)."
  type        = string
}

variable "model_release" {
  description = "Release id under s3://<models bucket>/releases/ that Triton serves; change it to roll forward or back."
  type        = string
}

variable "db_instance_class" {
  description = "RDS instance class of the audit database."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage_gb" {
  description = "Initial RDS storage in GiB (autoscaling up to 4x)."
  type        = number
  default     = 50
}

variable "db_multi_az" {
  description = "Run the database as a Multi-AZ deployment."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the database and load balancer from deletion (keep true in prod)."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated database backups (and of the audit spool's, on EFS)."
  type        = number
  default     = 14
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps container, VPC flow and database logs."
  type        = number
  default     = 365
}

variable "enable_managed_grafana" {
  description = "Create an Amazon Managed Grafana workspace (needs IAM Identity Center in the account)."
  type        = bool
  default     = true
}

variable "pipeline_image_tag" {
  description = "Tag of the pipeline image (retention job); unset: the gateway's tag (CI pushes every image of a commit under one tag)."
  type        = string
  default     = null
}

variable "retention_schedule" {
  description = "When `sentiment retention apply` runs on ECS (EventBridge Scheduler rate() or cron(), UTC)."
  type        = string
  default     = "cron(15 2 * * ? *)" # daily at 02:15 UTC, before the 03:00 backup window
  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.retention_schedule))
    error_message = "retention_schedule must be rate(...) or cron(...)."
  }
}

variable "retention_enabled" {
  description = "Whether the schedule starts the retention job (false: defined but paused)."
  type        = bool
  default     = true
}

variable "drift_report_retention_days" {
  description = "Days drift reports are kept under drift-reports/ in the MLflow artifact bucket."
  type        = number
  default     = 30
}

variable "retired_release_restorable_days" {
  description = "Days a model release retired by infra/scripts/retire-model-releases.sh stays restorable (noncurrent versions) after S3 expires it, within a day of the tagging."
  type        = number
  default     = 7
}

variable "traces_exporter" {
  description = "Where traces go: \"none\", \"xray\" (AWS X-Ray) or \"otlp\" (otlp_endpoint); docs/tracing.md."
  type        = string
  default     = "none"
}

variable "otlp_endpoint" {
  description = "Base URL of the OTLP/HTTP collector for traces_exporter \"otlp\"."
  type        = string
  default     = ""
}

variable "trace_sample_ratio" {
  description = "Share of new traces the gateway samples."
  type        = number
  default     = 0.05
}
