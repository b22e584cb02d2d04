# Development: one of each, smaller database, short log retention, deletable.
environment          = "dev"
region               = "us-east-1"
vpc_cidr             = "10.40.0.0/16"
availability_zones   = ["us-east-1a", "us-east-1b"]
certificate_arn      = "arn:aws:acm:us-east-1:111122223333:certificate/00000000-0000-0000-0000-000000000000"
allowed_client_cidrs = ["10.0.0.0/8"]

gpu_instance_types    = ["g6.xlarge", "g5.xlarge"]
gpu_instances_max     = 2
triton_desired_count  = 1
triton_max_count      = 2
gateway_desired_count = 1
gateway_max_count     = 2
gateway_image_tag     = "0.1.0"
triton_image_tag      = "0.1.0"
model_release         = "2025-01-01.1"

db_instance_class       = "db.t4g.small"
db_allocated_storage_gb = 20
db_multi_az             = false
deletion_protection     = false
backup_retention_days   = 3
log_retention_days      = 30
enable_managed_grafana  = false
