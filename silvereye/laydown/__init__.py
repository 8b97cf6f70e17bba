"""Laying silvereye down on a host: packages, rendered files, service, teardown."""
