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
