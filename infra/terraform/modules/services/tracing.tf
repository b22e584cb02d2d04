# Traces (docs/tracing.md): with traces_exporter "xray" or "otlp" each task gets an AWS
# Distro for OpenTelemetry (ADOT) collector sidecar listening on 127.0.0.1:4318 (a task's
# containers share localhost in awsvpc mode). The gateway sends OTLP/HTTP protobuf there
# (the standard OTEL_* variables), Triton its OpenTelemetry trace mode's OTLP/HTTP JSON
# (--trace-config arguments to the entry point, which passes them to tritonserver); the
# sidecar batches and forwards to AWS X-Ray (awsxray exporter, the task role's X-Ray
# permissions) or to an OTLP/HTTP collector. "none": no sidecar, no variable, no traces.
# The gateway samples (parent-based ratio); Triton traces exactly the calls the gateway
# sends it a sampled traceparent for (rate=0).
locals {
  tracing_on       = var.traces_exporter != "none"
  trace_collector  = "http://127.0.0.1:4318"
  collector_export = var.traces_exporter == "xray" ? "awsxray" : "otlphttp"
  collector_config = yamlencode({
    extensions = { health_check = {} }
    receivers  = { otlp = { protocols = { http = { endpoint = "127.0.0.1:4318" } } } }
    processors = {
      memory_limiter = { check_interval = "1s", limit_mib = 100 }
      batch          = {}
    }
    exporters = var.traces_exporter == "xray" ? {
      awsxray = { region = var.region }
      } : {
      otlphttp = { endpoint = var.otlp_endpoint }
    }
    service = {
      extensions = ["health_check"]
      pipelines = {
        traces = {
          receivers  = ["otlp"]
          processors = ["memory_limiter", "batch"]
          exporters  = [local.collector_export]
        }
      }
    }
  })
  # One sidecar per task that traces ([] when tracing is off), logging with the task.
  trace_sidecars = {
    for task in ["triton", "gateway"] : task => local.tracing_on ? [{
      name                   = "otel-collector"
      image                  = var.adot_collector_image
      essential              = false
      readonlyRootFilesystem = true
      privileged             = false
      command                = ["--config=env:AOT_CONFIG_CONTENT"]
      environment = [
        { name = "AOT_CONFIG_CONTENT", value = local.collector_config },
        { name = "AWS_REGION", value = var.region },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.containers[task].name
          awslogs-region        = var.region
          awslogs-stream-prefix = "otel-collector"
        }
      }
    }] : []
  }
  gateway_trace_environment = local.tracing_on ? [
    { name = "OTEL_EXPORTER_OTLP_ENDPOINT", value = local.trace_collector },
    { name = "OTEL_EXPORTER_OTLP_PROTOCOL", value = "http/protobuf" },
    { name = "OTEL_SERVICE_NAME", value = "sentiment-gateway" },
    { name = "OTEL_TRACES_SAMPLER", value = "parentbased_traceidratio" },
    { name = "OTEL_TRACES_SAMPLER_ARG", value = tostring(var.trace_sample_ratio) },
  ] : []
  triton_trace_arguments = local.tracing_on ? {
    command = [
      "--trace-config", "mode=opentelemetry",
      "--trace-config", "level=TIMESTAMPS",
      "--trace-config", "rate=0",
      "--trace-config", "count=-1",
      "--trace-config", "opentelemetry,url=${local.trace_collector}/v1/traces",
      "--trace-config", "opentelemetry,resource=service.name=sentiment-triton",
    ]
  } : {}
}

# X-Ray takes segments for any trace: its write and sampling actions have no resource to
# narrow them to (they are not resource-level actions).
data "aws_iam_policy_document" "xray_write" {
  statement {
    sid = "WriteTraces"
    actions = [
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "xray_write" {
  for_each = var.traces_exporter == "xray" ? {
    triton  = aws_iam_role.triton.id
    gateway = aws_iam_role.gateway.id
  } : {}
  name   = "xray-write"
  role   = each.value
  policy = data.aws_iam_policy_document.xray_write.json
}
