output "repository_urls" {
  description = "Repository URL per image (gateway, triton, pipeline, mlflow)."
  value       = { for key, repo in aws_ecr_repository.main : key => repo.repository_url }
}
