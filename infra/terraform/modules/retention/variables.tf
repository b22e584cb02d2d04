variable "name" {
  description = "Name prefix."
  type        = string
}

variable "region" {
  description = "AWS region (logs, KMS condition)."
  type        = string
}

variable "account_id" {
  description = "AWS account id (the scheduler may assume its role for this account only)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the task."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets of the task (no public IPs)."
  type        = list(string)
}

variable "cluster_arn" {
  description = "ECS cluster the task runs in (Fargate)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the log group and the database secret."
  type        = string
}

variable "log_retention_days" {
  description = "Days the job's logs are kept."
  type        = number
}

variable "pipeline_image" {
  description = "Pipeline image (ECR URL with immutable tag) that runs `sentiment retention apply`."
  type        = string
}

variable "schedule_expression" {
  description = "When the job runs (EventBridge Scheduler rate() or cron(), UTC)."
  type        = string
}

variable "enabled" {
  description = "Whether the schedule starts the job (false keeps it defined but paused)."
  type        = bool
}

variable "cpu" {
  description = "CPU units of the task."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Memory (MiB) of the task."
  type        = number
  default     = 1024
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
  description = "Database owner (the RDS master user): retention deletes rows and may drop partitions."
  type        = string
}

variable "db_secret_arn" {
  description = "RDS-managed master secret (JSON key password)."
  type        = string
}

variable "db_security_group_id" {
  description = "Security group of the database (gets ingress from the job)."
  type        = string
}
