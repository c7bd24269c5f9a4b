"""zakaz: Qtickets ticket sales and inventory into ClickHouse, as a Dagster asset graph."""
