"""The platform store: the platform database (models, engine, migrations) and the time-series
stores behind one typed protocol (`lingtan.store.timeseries`)."""
