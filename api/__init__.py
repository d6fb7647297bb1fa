"""The platform's front: REST API, dashboard, platform database and the `lingtan` command."""
