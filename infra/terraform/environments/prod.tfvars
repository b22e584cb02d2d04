# Production: two of each across two AZs, Multi-AZ database, deletion protection on.
environment          = "prod"
region               = "us-east-1"
vpc_cidr             = "10.50.0.0/16"
availability_zones   = ["us-east-1a", "us-east-1b"]
certificate_arn      = "arn:aws:acm:us-east-1:111122223333:certificate/11111111-1111-1111-1111-111111111111"
allowed_client_cidrs = ["10.0.0.0/8"]

gpu_instance_types    = ["g5.xlarge", "g6.xlarge"]
gpu_instances_max     = 4
triton_desired_count  = 2
triton_max_count      = 4
gateway_desired_count = 2
gateway_max_count     = 8
gateway_image_tag     = "0.1.0"
triton_image_tag      = "0.1.0"
model_release         = "2025-01-01.1"

db_instance_class       = "db.t4g.medium"
db_allocated_storage_gb = 50
db_multi_az             = true
deletion_protection     = true
backup_retention_days   = 14
log_retention_days      = 365
enable_managed_grafana  = true
