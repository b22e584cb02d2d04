variable "name" {
  description = "Name prefix and cluster name."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the GPU instances."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the GPU instances."
  type        = list(string)
}

variable "instance_types" {
  description = "GPU instance types, preferred first (g5.xlarge: A10G 24 GB; g6.xlarge: L4 24 GB)."
  type        = list(string)

  validation {
    condition     = alltrue([for t in var.instance_types : can(regex("^g[56]e?\\.", t))])
    error_message = "Triton tasks need one NVIDIA GPU per task: use g5 or g6 instance types."
  }
}

variable "max_instances" {
  description = "Upper bound of the Auto Scaling group."
  type        = number
}

variable "ami_ssm_parameter" {
  description = "SSM parameter holding the ECS GPU-optimized AMI id."
  type        = string
  default     = "/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id"
}

variable "root_volume_gb" {
  description = "Root volume size: the Triton image is about 15 GB."
  type        = number
  default     = 100
}

variable "kms_key_arn" {
  description = "KMS key for the EBS volumes."
  type        = string
}
