output "prometheus_endpoint" {
  description = "AMP workspace endpoint (query: <endpoint>api/v1/query)."
  value       = aws_prometheus_workspace.main.prometheus_endpoint
}

output "grafana_endpoint" {
  description = "Managed Grafana URL, or empty when disabled."
  value       = var.enable_managed_grafana ? "https://${aws_grafana_workspace.main[0].endpoint}" : ""
}
