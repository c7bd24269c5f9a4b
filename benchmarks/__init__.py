"""Performance harness for zakaz: ``python -m benchmarks`` (see benchmarks/README.md)."""
