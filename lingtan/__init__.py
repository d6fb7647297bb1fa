"""Lingtan 零碳: energy metering and carbon monitoring for (near-)zero-carbon industrial parks.

One import name; each subpackage is one top-level folder of the repository (docs/architecture.md):
`kernel` (config, wire contract, park model, device profiles, local calendar), `gateway`,
`ingest`, `store` (platform database, time-series stores), `accounting` (the pure core and its
service), `api`, `simulator` and `cli` (the `lingtan` command).
"""

__version__ = "0.1.0"
