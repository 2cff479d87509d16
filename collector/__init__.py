"""collector: HTTP event batches in, normalized records in Apache Kafka out."""

__version__ = "0.1.0"
