"""Monitoring: the drift job (`sentiment drift`), Prometheus rules and Grafana dashboards."""
