output "kms_key_arn" {
  description = "The deployment's customer-managed KMS key."
  value       = aws_kms_key.main.arn
}

output "models_bucket" {
  description = "Model release bucket name."
  value       = aws_s3_bucket.data["models"].id
}

output "models_bucket_arn" {
  description = "Model release bucket ARN."
  value       = aws_s3_bucket.data["models"].arn
}

output "mlflow_bucket" {
  description = "MLflow artifact bucket name."
  value       = aws_s3_bucket.data["mlflow"].id
}

output "access_logs_bucket" {
  description = "Access-log bucket name (ALB logs under alb/)."
  value       = aws_s3_bucket.access_logs.id
}

output "drift_reports_artifact_location" {
  description = "Artifact location of the drift job's MLflow experiment (expires by age)."
  value       = "s3://${aws_s3_bucket.data["mlflow"].id}/${trimsuffix(local.drift_reports_prefix, "/")}"
}

output "release_retirement_tag" {
  description = "Object tag that infra/scripts/retire-model-releases.sh sets and the lifecycle expires."
  value       = local.retirement_tag
}
