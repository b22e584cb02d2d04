output "address" {
  description = "Private DNS name of the instance."
  value       = aws_db_instance.main.address
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.main.port
}

output "db_name" {
  description = "Database name."
  value       = aws_db_instance.main.db_name
}

output "username" {
  description = "Master user name (its password lives in the master secret)."
  value       = aws_db_instance.main.username
}

output "resource_id" {
  description = "DbiResourceId of the instance: the db-... part of rds-db:connect ARNs (IAM auth)."
  value       = aws_db_instance.main.resource_id
}

output "master_secret_arn" {
  description = "Secrets Manager secret (JSON: username, password) managed by RDS."
  value       = aws_db_instance.main.master_user_secret[0].secret_arn
}

output "security_group_id" {
  description = "Security group of the database (add ingress from clients)."
  value       = aws_security_group.db.id
}
