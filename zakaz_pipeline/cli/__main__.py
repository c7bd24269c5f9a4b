"""``python -m zakaz_pipeline.cli``: the ``zakaz`` command without its console script (tests, benchmarks)."""

from zakaz_pipeline.cli import command

command()
