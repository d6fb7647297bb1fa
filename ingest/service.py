"""The ingest process: one worker thread per configured worker, sharing one subscription group."""

import logging

from accounting.config import Config
from api.db import make_engine
from ingest.consumer import Ingest
from ingest.sinks import open_sink

log = logging.getLogger(__name__)


def make_ingest(config: Config, client_id: str | None = None) -> Ingest:
    return Ingest(config, open_sink(config.ingest.sink), make_engine(config.store.url), client_id=client_id)
