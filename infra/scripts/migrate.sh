#!/usr/bin/env bash
# Run the one-off migrate task (sentiment db upgrade as the database owner; creates the
# gateway's IAM role when missing and grants it the gateway's rights) and wait for it.
# Run it before every deploy of a new gateway image; the gateway never migrates on ECS.
#
#   infra/scripts/migrate.sh            # reads `terraform output` in infra/terraform
#
# Exit status: the task's own (0: migrated), 1 when it did not run or could not be read.
set -euo pipefail

cd "$(dirname "$0")/../terraform"
cluster=$(terraform output -raw cluster_name)
task_definition=$(terraform output -json migrate_task | python3 -c 'import json,sys; print(json.load(sys.stdin)["task_definition"])')
network=$(terraform output -json migrate_task | python3 -c '
import json, sys
task = json.load(sys.stdin)
print(json.dumps({"awsvpcConfiguration": {"subnets": task["subnet_ids"],
      "securityGroups": [task["security_group_id"]], "assignPublicIp": "DISABLED"}}))')

task_arn=$(aws ecs run-task --cluster "$cluster" --task-definition "$task_definition" \
  --launch-type FARGATE --platform-version LATEST --count 1 \
  --network-configuration "$network" --started-by sentiment-migrate \
  --query 'tasks[0].taskArn' --output text)
if [[ -z "$task_arn" || "$task_arn" == "None" ]]; then
  echo "migrate: the task did not start (aws ecs run-task returned no task)" >&2
  exit 1
fi
echo "migrate: $task_arn"
aws ecs wait tasks-stopped --cluster "$cluster" --tasks "$task_arn"
status=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task_arn" \
  --query 'tasks[0].containers[?name==`migrate`].exitCode | [0]' --output text)
if [[ "$status" != "0" ]]; then
  echo "migrate: the task exited with ${status} (logs: CloudWatch group /<name>/migrate)" >&2
  exit 1
fi
echo "migrate: done"
