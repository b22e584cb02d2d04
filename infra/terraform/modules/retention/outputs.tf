output "schedule_name" {
  description = "EventBridge Scheduler schedule of the job."
  value       = aws_scheduler_schedule.retention.name
}

output "task_definition_family" {
  description = "Task definition family (run it by hand: aws ecs run-task --task-definition <family>)."
  value       = aws_ecs_task_definition.retention.family
}

output "security_group_id" {
  description = "Security group of the job (aws ecs run-task --network-configuration)."
  value       = aws_security_group.retention.id
}

output "log_group" {
  description = "CloudWatch log group of the job."
  value       = aws_cloudwatch_log_group.retention.name
}
