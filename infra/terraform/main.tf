# Sentiment service on AWS: GPU Triton tasks on ECS (EC2 capacity provider) behind a gRPC
# gateway on Fargate, an ALB with a TLS listener, RDS PostgreSQL for the audit log, S3 for
# model releases and MLflow artifacts, ECR for images, Prometheus (AMP) and Grafana, and a
# daily scheduled retention job.
locals {
  name = "sentiment-${var.environment}"
}

data "aws_caller_identity" "current" {}

module "storage" {
  source             = "./modules/storage"
  name               = local.name
  account_id         = data.aws_caller_identity.current.account_id
  region             = var.region
  log_retention_days = var.log_retention_days
  model_release      = var.model_release
  # Lifecycle rules: drift reports by age, retired releases by tag (never the served one).
  drift_report_retention_days    = var.drift_report_retention_days
  retired_release_restorable_days = var.retired_release_restorable_days
}

module "network" {
  source             = "./modules/network"
  name               = local.name
  cidr               = var.vpc_cidr
  availability_zones = var.availability_zones
  kms_key_arn        = module.storage.kms_key_arn
  log_retention_days = var.log_retention_days
}

module "registry" {
  source      = "./modules/registry"
  name        = local.name
  kms_key_arn = module.storage.kms_key_arn
}

module "database" {
  source                = "./modules/database"
  name                  = local.name
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.private_subnet_ids
  kms_key_arn           = module.storage.kms_key_arn
  instance_class        = var.db_instance_class
  allocated_storage_gb  = var.db_allocated_storage_gb
  multi_az              = var.db_multi_az
  deletion_protection   = var.deletion_protection
  backup_retention_days = var.backup_retention_days
  log_retention_days    = var.log_retention_days
}

module "gpu_cluster" {
  source             = "./modules/gpu_cluster"
  name               = local.name
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids
  instance_types     = var.gpu_instance_types
  max_instances      = var.gpu_instances_max
  kms_key_arn        = module.storage.kms_key_arn
}

module "services" {
  source                = "./modules/services"
  name                  = local.name
  region                = var.region
  vpc_id                = module.network.vpc_id
  public_subnet_ids     = module.network.public_subnet_ids
  private_subnet_ids    = module.network.private_subnet_ids
  cluster_arn           = module.gpu_cluster.cluster_arn
  cluster_name          = module.gpu_cluster.cluster_name
  gpu_capacity_provider = module.gpu_cluster.capacity_provider_name
  kms_key_arn           = module.storage.kms_key_arn
  log_retention_days    = var.log_retention_days
  access_logs_bucket    = module.storage.access_logs_bucket
  certificate_arn       = var.certificate_arn
  allowed_client_cidrs  = var.allowed_client_cidrs
  deletion_protection   = var.deletion_protection
  backup_retention_days = var.backup_retention_days
  gateway_image         = "${module.registry.repository_urls["gateway"]}:${var.gateway_image_tag}"
  triton_image          = "${module.registry.repository_urls["triton"]}:${var.triton_image_tag}"
  models_bucket         = module.storage.models_bucket
  models_bucket_arn     = module.storage.models_bucket_arn
  model_release         = var.model_release
  db_host               = module.database.address
  db_port               = module.database.port
  db_name               = module.database.db_name
  db_username           = module.database.username
  db_secret_arn         = module.database.master_secret_arn
  db_security_group_id  = module.database.security_group_id
  db_resource_id        = module.database.resource_id
  account_id            = data.aws_caller_identity.current.account_id
  triton_desired_count  = var.triton_desired_count
  triton_max_count      = var.triton_max_count
  gateway_desired_count = var.gateway_desired_count
  gateway_max_count     = var.gateway_max_count
  traces_exporter       = var.traces_exporter
  otlp_endpoint         = var.otlp_endpoint
  trace_sample_ratio    = var.trace_sample_ratio
}

module "retention" {
  source               = "./modules/retention"
  name                 = local.name
  region               = var.region
  account_id           = data.aws_caller_identity.current.account_id
  vpc_id               = module.network.vpc_id
  private_subnet_ids   = module.network.private_subnet_ids
  cluster_arn          = module.gpu_cluster.cluster_arn
  kms_key_arn          = module.storage.kms_key_arn
  log_retention_days   = var.log_retention_days
  pipeline_image       = "${module.registry.repository_urls["pipeline"]}:${coalesce(var.pipeline_image_tag, var.gateway_image_tag)}"
  schedule_expression  = var.retention_schedule
  enabled              = var.retention_enabled
  db_host              = module.database.address
  db_port              = module.database.port
  db_name              = module.database.db_name
  db_username          = module.database.username
  db_secret_arn        = module.database.master_secret_arn
  db_security_group_id = module.database.security_group_id
}

module "monitoring" {
  source                 = "./modules/monitoring"
  name                   = local.name
  region                 = var.region
  vpc_id                 = module.network.vpc_id
  private_subnet_ids     = module.network.private_subnet_ids
  cluster_arn            = module.gpu_cluster.cluster_arn
  kms_key_arn            = module.storage.kms_key_arn
  log_retention_days     = var.log_retention_days
  discovery_domain       = module.services.discovery_domain
  scrape_security_groups = module.services.scrape_target_security_group_ids
  enable_managed_grafana = var.enable_managed_grafana
}
