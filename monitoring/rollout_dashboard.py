"""The rollout dashboard: the rollout state, traffic, errors and latency by version, and the
shadow comparison, as a canary or shadow rollout is judged (`sentiment rollout`)."""

from __future__ import annotations

from typing import Any

from monitoring.grafana_model import VALUE, Panel, Row, dashboard

GUARDRAIL_ROLLBACKS_24H = """sum by (model) (
  (
    sentiment_gateway_rollout_guardrail_rollbacks_total
    unless sentiment_gateway_rollout_guardrail_rollbacks_total offset 24h
  )
  or increase(sentiment_gateway_rollout_guardrail_rollbacks_total[24h])
  or 0 * sentiment_gateway_rollout_candidate_share
)"""
"""Rollbacks by the guardrail in 24 h, as the alert counts them (a series born at 1 too),
and 0 for a model whose replicas have not exported the counter."""


def rollout() -> dict[str, Any]:
    return dashboard(
        "sentiment-rollout",
        "Sentiment service: model rollout",
        [
            Row(
                "Rollout state",
                [
                    Panel(
                        "Rollout state",
                        [
                            (
                                "max by (model, served_version, candidate_version, mode) "
                                "(sentiment_gateway_rollout_info == 1)",
                                "{{model}}: v{{served_version}} served, {{mode}} "
                                "{{candidate_version}}",
                            )
                        ],
                        kind="stat",
                        width=12,
                        options={**VALUE, "textMode": "name"},
                        description=(
                            "Mode none, canary or shadow, as the gateway replicas follow it "
                            "(`sentiment rollout status`)."
                        ),
                    ),
                    Panel(
                        "Configured candidate share",
                        [
                            (
                                "max by (model) (sentiment_gateway_rollout_candidate_share)",
                                "{{model}}",
                            )
                        ],
                        "percentunit",
                        kind="stat",
                        width=6,
                        options=VALUE,
                        description="The canary percent; 0 without a canary and in shadow mode.",
                    ),
                    Panel(
                        "Guardrail rollbacks (24 h)",
                        [(GUARDRAIL_ROLLBACKS_24H, "{{model}}")],
                        kind="stat",
                        width=6,
                        options=VALUE,
                        description="Rollouts the gateway ended by itself: candidate worse.",
                    ),
                ],
            ),
            Row(
                "Traffic by version",
                [
                    Panel(
                        "Share of calls by version",
                        [
                            (
                                "model_version:sentiment_gateway_version_calls:share5m",
                                "v{{version}}",
                            ),
                            (
                                "model:sentiment_gateway_rollout_candidate_calls:share5m",
                                "candidate (observed)",
                            ),
                            (
                                "max by (model) (sentiment_gateway_rollout_candidate_share)",
                                "candidate (configured)",
                            ),
                        ],
                        "percentunit",
                        description=(
                            "Calls answered by each version over all calls; during a canary "
                            "the candidate's observed share should track the configured one."
                        ),
                    ),
                    Panel(
                        "Calls/s by version",
                        [
                            (
                                "model_version:sentiment_gateway_version_calls:rate5m",
                                "v{{version}}",
                            )
                        ],
                        "reqps",
                    ),
                ],
            ),
            Row(
                "Errors and latency by version",
                [
                    Panel(
                        "Error ratio by version",
                        [
                            (
                                "model_version:sentiment_gateway_version_errors:ratio_rate5m",
                                "v{{version}}",
                            )
                        ],
                        "percentunit",
                        width=8,
                        description=(
                            "Failed Triton calls of each version; alert during a canary when "
                            "one is over twice another's plus one point."
                        ),
                    ),
                    Panel(
                        "Triton call latency by version (p50, p99)",
                        [
                            (
                                "model_version:sentiment_gateway_version_seconds:p50_5m",
                                "p50 v{{version}}",
                            ),
                            (
                                "model_version:sentiment_gateway_version_seconds:p99_5m",
                                "p99 v{{version}}",
                            ),
                        ],
                        "s",
                        width=16,
                        description=(
                            "Seen from the gateway. The guardrail compares the candidate's p99 "
                            "with the served version's."
                        ),
                    ),
                ],
            ),
            Row(
                "Shadow (shadow mode only)",
                [
                    Panel(
                        "Shadow agreement",
                        [
                            (
                                "model_version:sentiment_gateway_shadow_agreement:ratio_rate5m",
                                "v{{version}}",
                            )
                        ],
                        "percentunit",
                        width=8,
                        description=(
                            "Compared shadow calls where the candidate gave the served "
                            "version's label for every text; alert under 90%."
                        ),
                    ),
                    Panel(
                        "Shadow copies/s by outcome",
                        [
                            (
                                "model_version_outcome:sentiment_gateway_shadow_calls:rate5m",
                                "v{{version}} {{outcome}}",
                            )
                        ],
                        "reqps",
                        width=8,
                    ),
                    Panel(
                        "Shadow copies dropped",
                        [
                            (
                                "model_version:sentiment_gateway_shadow_dropped:ratio_rate5m",
                                "v{{version}}",
                            )
                        ],
                        "percentunit",
                        width=8,
                        description="Dropped by the full shadow queue; alert above 5%.",
                    ),
                ],
            ),
        ],
        ["gateway", "rollout"],
    )
