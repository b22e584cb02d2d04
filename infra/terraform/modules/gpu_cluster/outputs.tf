output "cluster_arn" {
  description = "ECS cluster ARN."
  value       = aws_ecs_cluster.main.arn
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.main.name
}

output "capacity_provider_name" {
  description = "Name of the GPU capacity provider (Triton's strategy)."
  value       = aws_ecs_capacity_provider.gpu.name
}

output "instance_security_group_id" {
  description = "Security group of the GPU container instances."
  value       = aws_security_group.instances.id
}
