"""Health checks: one module per check, served by /healthz and /readyz and used by `ops doctor`."""
