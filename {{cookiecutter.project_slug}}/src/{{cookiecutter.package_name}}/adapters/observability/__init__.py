"""Logs, traces and metrics: the logging setup (always), OpenTelemetry (only when enabled)."""
