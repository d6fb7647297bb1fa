"""The ledger's dead-letter retry on a real PostgreSQL that stops in its middle: a flush whose dead
letters the database refuses is written again with each letter tried alone; PostgreSQL stops while
one of them is being inserted; the flush's next attempt (as the consumer makes it, with the same
messages received anew) stores every letter once. Before, the letters tried before the outage were
already committed one by one, and the next attempt stored them a second time."""

import threading
from datetime import UTC, datetime

from sqlalchemy import select, text

from lingtan.ingest.ledger import Ledger, dead_letter
from lingtan.store.db import make_engine, sessions
from lingtan.store.models import DeadLetter, Dirty
from lingtan.store.timeseries.base import Row, SinkUnavailable
from tests.support import wait_for
from tests.support.configs import config_of, meter, platform

T0 = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
TOPIC = "lingtan/v1/gw-park/gw-1/readings"


def _letters(now: datetime) -> list[dict]:
    return [dead_letter(now, TOPIC, reason, reason.encode()) for reason in ("kept-1", "poison", "slow", "kept-2")]


def _sleeping(engine) -> bool:
    with engine.connect() as c:
        return bool(c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")).scalar_one())


def test_an_outage_in_the_middle_of_the_dead_letter_retry_stores_each_letter_once(postgres):
    config = config_of(platform([meter("m1", "bus-1", 1)], [{"id": "bus-1"}], store=postgres.url))
    engine = make_engine(postgres.url)
    with engine.begin() as c:  # 'poison' is refused; 'slow' waits in its insert until PostgreSQL stops
        c.execute(text("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                       "RAISE EXCEPTION 'refused by the test trigger'; END $$ LANGUAGE plpgsql"))
        c.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON dead_letter FOR EACH ROW "
                       "WHEN (NEW.reason = 'poison') EXECUTE FUNCTION refuse()"))
        c.execute(text("CREATE FUNCTION slow() RETURNS trigger AS $$ BEGIN "
                       "PERFORM pg_sleep(60); RETURN NEW; END $$ LANGUAGE plpgsql"))
        c.execute(text("CREATE TRIGGER slow BEFORE INSERT ON dead_letter FOR EACH ROW "
                       "WHEN (NEW.reason = 'slow') EXECUTE FUNCTION slow()"))
    ledger = Ledger(config, engine)
    rows = [Row("gw-park", "m1", int(T0.timestamp() * 1000), "gw-1", 1, {"energy_import_kwh": 1.0})]
    outcome = []

    def flush():
        try:
            outcome.append(ledger.commit(rows, _letters(T0), token="t1"))
        except SinkUnavailable as exc:
            outcome.append(exc)

    first = threading.Thread(target=flush)
    first.start()
    try:
        wait_for(lambda: _sleeping(engine), 15, message="the retry inserting the 'slow' letter")
    finally:
        postgres.stop()  # fast shutdown: the session inserting 'slow' is ended
        first.join(30)
    assert isinstance(outcome[0], SinkUnavailable)

    postgres.start()
    with engine.begin() as c:
        c.execute(text("DROP TRIGGER slow ON dead_letter"))
    # the consumer puts the messages back and flushes them again, received anew
    assert ledger.commit(rows, _letters(datetime.now(UTC)), token="t2") == 1  # 'poison' lost, counted
    with sessions(engine)() as s:
        reasons = sorted(s.scalars(select(DeadLetter.reason)))
        assert reasons == ["kept-1", "kept-2", "slow"]
        assert [d.token for d in s.scalars(select(Dirty))] == ["t2"]
    engine.dispose()
