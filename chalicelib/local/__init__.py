"""The embedded stack behind `make run`: moto in-process, tables, demo data, Chalice local."""
