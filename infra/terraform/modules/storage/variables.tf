variable "name" {
  description = "Name prefix."
  type        = string
}

variable "account_id" {
  description = "AWS account id (bucket names, key policy)."
  type        = string
}

variable "region" {
  description = "AWS region (CloudWatch Logs service principal)."
  type        = string
}

variable "log_retention_days" {
  description = "Days access logs are kept."
  type        = number
}

variable "model_release" {
  description = "Release id being served: its objects may never be tagged for expiry (bucket policy)."
  type        = string
}

variable "drift_report_retention_days" {
  description = "Days objects under drift-reports/ of the MLflow bucket are kept."
  type        = number
}

variable "retired_release_restorable_days" {
  description = "Days objects of the models bucket expired by the retirement tag stay restorable."
  type        = number
}
