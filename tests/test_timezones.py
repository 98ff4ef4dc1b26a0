"""Neither the process TZ nor the database session's TimeZone can shift a stored
or derived timestamp."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from auditd import db
from auditd.capture.attribution import audit_context, session_factory
from auditd.config import DatabaseSettings
from auditd.models import Session, Transaction
from auditd.stamps.derive import derive_last_modified

PLUS_TWO = timezone(timedelta(hours=2))


def test_offset_is_converted_to_utc_not_dropped(engine: sa.Engine) -> None:
    # SQLite's DateTime(timezone=True) would store 09:00+02:00 as 09:00.
    sessions = session_factory(engine)
    with sessions.begin() as session:
        talk = Session(title="Talk", starts_at=datetime(2027, 3, 12, 9, 0, tzinfo=PLUS_TWO))
        session.add(talk)
    with engine.connect() as connection:
        stored = connection.execute(sa.select(Session.starts_at)).scalar_one()
    assert stored == datetime(2027, 3, 12, 7, 0, tzinfo=UTC)
    assert stored.tzinfo is UTC


def test_naive_datetime_is_refused(engine: sa.Engine) -> None:
    sessions = session_factory(engine)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), sessions.begin() as session:
        session.add(Session(title="Talk", starts_at=datetime(2027, 3, 12, 9, 0)))


@pytest.mark.postgresql_only
def test_tokyo_session_time_zone_changes_no_value(database_url: str) -> None:
    tokyo = db.create_engine(DatabaseSettings(url=database_url))
    sa.event.listen(tokyo, "connect", _set_tokyo)
    utc = db.create_engine(DatabaseSettings(url=database_url))
    starts = datetime(2027, 3, 12, 9, 0, tzinfo=UTC)
    with audit_context(actor="tokyo"), session_factory(tokyo).begin() as session:
        session.add(Session(title="Talk", starts_at=starts))
    with tokyo.begin() as connection:
        assert connection.exec_driver_sql("SHOW TimeZone").scalar_one() == "Asia/Tokyo"
        connection.exec_driver_sql("UPDATE sessions SET title = 'Raw from Tokyo'")

    readings = []
    for engine in (tokyo, utc):
        with engine.connect() as connection:
            row = connection.execute(
                sa.select(Session.id, Session.starts_at, Session.last_modified_at)
            ).one()
            issued = connection.execute(sa.select(sa.func.max(Transaction.issued_at))).scalar_one()
            readings.append(
                (row.starts_at, row.last_modified_at, issued, derive_last_modified(connection))
            )
    assert readings[0] == readings[1]
    starts_read, last_modified, issued, derived = readings[1]
    assert starts_read == starts
    assert last_modified == issued == derived[1]
    assert abs(datetime.now(UTC) - last_modified) < timedelta(minutes=5)
    tokyo.dispose()
    utc.dispose()


def _set_tokyo(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("SET TIME ZONE 'Asia/Tokyo'")
    cursor.close()
    dbapi_connection.commit()  # type: ignore[attr-defined]


WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, UTC
    assert time.tzname[0] not in ("UTC", "GMT"), time.tzname
    from auditd import db
    from auditd.capture.attribution import session_factory
    from auditd.config import DatabaseSettings
    from auditd.models import Session
    engine = db.create_engine(DatabaseSettings(url=sys.argv[1]))
    with session_factory(engine).begin() as session:
        starts = datetime(2027, 1, 1, 12, tzinfo=UTC)
        session.add(Session(title="Written in another zone", starts_at=starts))
    with db.write_transaction(engine) as connection:
        connection.exec_driver_sql("UPDATE sessions SET level = 'advanced'")
    """
)


def test_process_time_zone_changes_no_value(engine: sa.Engine, database_url: str) -> None:
    env = {**os.environ, "TZ": "America/New_York"}
    subprocess.run([sys.executable, "-c", WRITER, database_url], env=env, check=True, timeout=60)
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(Session.id, Session.starts_at, Session.last_modified_at)
        ).one()
        derived = derive_last_modified(connection)
    assert row.starts_at == datetime(2027, 1, 1, 12, tzinfo=UTC)
    assert row.last_modified_at == derived[row.id]
    assert abs(datetime.now(UTC) - row.last_modified_at) < timedelta(minutes=5)
