"""Watching production: drift and performance monitoring, and the retraining policy."""
