variable "name" {
  description = "Name prefix of the repositories."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the images."
  type        = string
}

variable "keep_images" {
  description = "Images kept per repository (older ones expire; keep enough to roll back)."
  type        = number
  default     = 30
}
