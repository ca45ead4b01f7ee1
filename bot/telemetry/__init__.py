"""Operations: Prometheus metrics and health endpoints."""
