variable "name" {
  description = "Name prefix and DB identifier."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the DB subnet group."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights, logs and the master secret."
  type        = string
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "allocated_storage_gb" {
  description = "Initial storage in GiB."
  type        = number
}

variable "multi_az" {
  description = "Multi-AZ deployment."
  type        = bool
}

variable "deletion_protection" {
  description = "Refuse deletion of the instance."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days of automated backups."
  type        = number
}

variable "log_retention_days" {
  description = "Days PostgreSQL logs are kept in CloudWatch."
  type        = number
}
