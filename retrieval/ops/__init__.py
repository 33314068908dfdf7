"""The operator's view: dashboard, heartbeats, /healthz and /metrics."""
