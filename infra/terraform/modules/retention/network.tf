# The job's own security group, with the gateway's way to the database: PostgreSQL to the
# database's group, HTTPS to AWS APIs (ECR, Secrets Manager, CloudWatch Logs), no ingress.
resource "aws_security_group" "retention" {
  #checkov:skip=CKV2_AWS_5:attached by the schedule's ECS target (network_configuration), which the check does not follow
  name        = "${var.name}-retention"
  description = "Retention job: PostgreSQL and AWS APIs out, nothing in"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "retention_to_db" {
  security_group_id            = aws_security_group.retention.id
  description                  = "PostgreSQL (drift samples, drift results, audit log)"
  referenced_security_group_id = var.db_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
}

resource "aws_vpc_security_group_egress_rule" "retention_https" {
  security_group_id = aws_security_group.retention.id
  description       = "HTTPS to AWS APIs (ECR, Secrets Manager, CloudWatch Logs)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "db_from_retention" {
  security_group_id            = var.db_security_group_id
  description                  = "PostgreSQL from the retention job"
  referenced_security_group_id = aws_security_group.retention.id
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
}
