"""Outputs: where results land — the SQL tables, InfluxDB for Grafana, and S3 storage.

Modules, one job each: `schema` (tables), `migrations` (Alembic versions), `database`
(engines, credentials, retries), `sql_writer` (batched idempotent writes), `event_columns`
(results as NumPy columns), `pass_record_writer` (passes, attempts, run status), `spool`
(on-disk queue while the database is down), `query` (pandas DataFrames, safe filters),
`influx_schema` and `influx_sink` (Grafana time series), `s3_store` (files on object storage).
"""
