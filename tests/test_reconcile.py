"""sync, reconcile and verify, in process, on both backends: what they repair,
what they leave alone, and why they are safe next to concurrent writers."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from audit_names import transactions, versions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import orm
from test_daemon_support import (
    WRONG_STAMP,
    add_sessions,
    change_title_then_break_stamp,
    drifted_keys,
    history_size,
    live_logging,
    quick_write,
    set_stamp_only,
)

from auditd.capture import append_only
from auditd.capture.attribution import AuditSession, audit_context
from auditd.config import load_settings
from auditd.daemon.jobs import run_job
from auditd.daemon.locks import job_lock
from auditd.daemon.runs import claim_run
from auditd.errors import AlreadyRunningError
from auditd.models import JobRun, Session
from auditd.models.audit import TRANSACTION
from auditd.models.namespace import version_table_name
from auditd.stamps.derive import HistoryBound, derived_by_key, load_stamps
from auditd.stamps.horizon import snapshot_watermark
from auditd.stamps.repair import batch_settings, members, without_jit
from auditd.stamps.watermark import (
    Watermark,
    forget_time_bound,
    read_watermark,
    store_watermark,
)
from auditd.timestamps import utcnow

pytestmark = pytest.mark.usefixtures(live_logging.__name__)


def settings_for(url: str, batch_size: int = 7) -> object:
    return load_settings(
        environ={}, overrides={"database.url": url, "service.batch_size": str(batch_size)}
    )


@pytest.fixture
def config(database_url: str) -> object:
    return settings_for(database_url)


def run(engine: sa.Engine, config: object, job: str, **options: object) -> object:
    record = run_job(engine, config, job, **options)  # type: ignore[arg-type]
    assert record is not None
    return record


def test_full_reconcile_repairs_raw_sql_drift_without_creating_versions(
    engine: sa.Engine, config: object
) -> None:
    ids = add_sessions(engine, 40)
    set_stamp_only(engine, ids[:15])  # a bulk raw edit of the stamp column alone
    change_title_then_break_stamp(engine, ids[20:25], "renamed")
    before = history_size(engine)
    assert len(drifted_keys(engine)) == 20

    first = run(engine, config, "reconcile")
    second = run(engine, config, "reconcile")

    assert (first.status, first.rows_scanned, first.rows_repaired) == ("succeeded", 40, 20)
    assert drifted_keys(engine) == []
    assert history_size(engine) == before, "a repair wrote a version or transaction row"
    assert (second.rows_scanned, second.rows_repaired) == (40, 0)


def test_sync_repairs_rows_changed_since_the_watermark_and_not_stamp_only_edits(
    engine: sa.Engine, config: object
) -> None:
    ids = add_sessions(engine, 10)
    with engine.connect() as connection:
        insert = connection.scalar(sa.text(f"SELECT max(id) FROM {transactions(connection)}"))
    watermark = run(engine, config, "sync").watermark_to
    set_stamp_only(engine, [ids[0]])  # writes no transaction: invisible to sync
    change_title_then_break_stamp(engine, [ids[1]], "changed")

    synced = run(engine, config, "sync")

    # A long transaction elsewhere on a PostgreSQL server can hold the horizon
    # below our insert: sync then looks at every row again, ids[0] included.
    if watermark > insert:
        assert synced.rows_repaired == 1
        assert drifted_keys(engine) == [ids[0]]
    else:
        assert synced.rows_repaired == 2
        set_stamp_only(engine, [ids[0]])
    assert run(engine, config, "reconcile").rows_repaired == 1
    assert drifted_keys(engine) == []
    assert run(engine, config, "sync").rows_repaired == 0


def touched_since(engine: sa.Engine, watermark: int) -> set[int]:
    with engine.connect() as connection:
        return set(
            connection.scalars(
                sa.text(
                    f"SELECT id FROM {versions(connection, 'sessions')} WHERE transaction_id >= :w"
                    f" UNION SELECT session_id FROM {versions(connection, 'speakers_sessions')}"
                    " WHERE transaction_id >= :w"
                ),
                {"w": watermark},
            )
        )


def test_sync_cost_follows_new_changes_not_table_size(engine: sa.Engine, config: object) -> None:
    ids = add_sessions(engine, 60)
    with engine.connect() as connection:
        first_transaction = connection.scalar(
            sa.text(f"SELECT max(id) FROM {transactions(connection)}")
        )
    run(engine, config, "sync")
    change_title_then_break_stamp(engine, ids[5:8], "three changed")

    synced = run(engine, config, "sync")

    # Exactly the rows touched at or after the watermark. On PostgreSQL a long
    # transaction elsewhere on the server holds the horizon back, and sync then
    # looks at more rows (correct, just slower); on an idle server it is 3.
    assert synced.rows_scanned == len(touched_since(engine, synced.watermark_from))
    if synced.watermark_from > first_transaction:
        assert synced.rows_scanned == 3
    assert synced.watermark_from <= synced.watermark_to


def test_a_transaction_that_commits_after_a_sync_run_is_repaired_by_the_next_sync(
    engine: sa.Engine, config: object
) -> None:
    # The late transaction takes its id first, then another transaction takes a
    # larger id and commits; a max-id watermark would move past the late one.
    late_id, early_id = add_sessions(engine, 2)
    run(engine, config, "sync")
    ready, commit = threading.Event(), threading.Event()
    table = Session.__table__

    def late_writer() -> None:
        with quick_write(engine) as connection:
            connection.execute(sa.update(table).where(table.c.id == late_id).values(title="late"))
            connection.execute(
                sa.update(table).where(table.c.id == late_id).values(last_modified_at=WRONG_STAMP)
            )
            ready.set()
            commit.wait(timeout=30)

    writer = threading.Thread(target=late_writer)
    writer.start()
    assert ready.wait(timeout=30)
    results: list[object] = []
    syncer = threading.Thread(target=lambda: results.append(run(engine, config, "sync")))
    if engine.dialect.name == "postgresql":
        change_title_then_break_stamp(engine, [early_id], "early")  # commits first, larger id
        syncer.start()
        syncer.join(timeout=30)  # PostgreSQL: runs while the late transaction is open
        assert results and results[0].rows_repaired == 1  # the early one only
        commit.set()
    else:
        syncer.start()  # SQLite: its batch waits for the single writer to commit
        time.sleep(0.3)
        commit.set()
        syncer.join(timeout=30)
    writer.join(timeout=30)
    assert drifted_keys(engine) == [late_id] or engine.dialect.name == "sqlite"

    later = run(engine, config, "sync")

    assert drifted_keys(engine) == []
    assert later.status == "succeeded"


@pytest.mark.postgresql_only
def test_sync_derives_from_the_whole_history_when_an_older_id_was_issued_later(
    engine: sa.Engine, config: object
) -> None:
    # Transaction ids are handed out at the first write, issued_at at the first
    # captured statement: B takes its id first, then C, then A; A writes and
    # commits, then B. A sync while C is open puts its watermark at C: A's
    # version is new to the next sync, B's is not, yet B's is the row's latest.
    (talk,) = add_sessions(engine, 1)
    table = Session.__table__
    with engine.connect() as b, engine.connect() as c, engine.connect() as a:
        ids = {}
        for name, connection in (("b", b), ("c", c), ("a", a)):
            without_jit(connection)
            ids[name] = connection.scalar(sa.text("SELECT pg_current_xact_id()::text::bigint"))
        a.execute(sa.update(table).where(table.c.id == talk).values(title="by A"))
        a.commit()
        time.sleep(0.01)  # B's first captured statement comes later than A's
        b.execute(sa.update(table).where(table.c.id == talk).values(title="by B"))
        b.commit()
        # What a sync run now stores when C is the server's oldest open
        # transaction (other sessions on a shared server can hold it lower).
        with engine.connect() as reader:
            reached = snapshot_watermark(reader)
        with quick_write(engine) as connection:
            store_watermark(
                connection, Watermark(transaction_id=ids["c"], issued_at=reached.issued_at)
            )
        c.rollback()
    with engine.connect() as connection:
        issued = dict(
            connection.execute(
                sa.text(
                    f"SELECT v.title, t.issued_at FROM {versions(connection, 'sessions')} v"
                    f" JOIN {transactions(connection)} t ON t.id = v.transaction_id"
                    " WHERE v.id = :id AND v.title LIKE 'by %'"
                ),
                {"id": talk},
            ).all()
        )
    assert issued["by B"] > issued["by A"]
    set_stamp_only(engine, [talk])

    synced = run(engine, config, "sync")

    assert (synced.watermark_from, synced.rows_scanned, synced.rows_repaired) == (ids["c"], 1, 1)
    assert drifted_keys(engine) == []
    with engine.connect() as connection:
        stamp = connection.scalar(sa.select(table.c.last_modified_at).where(table.c.id == talk))
    assert stamp == issued["by B"]


@pytest.mark.postgresql_only
def test_sync_reads_only_the_new_history_of_a_row_with_a_long_one(
    engine: sa.Engine, config: object
) -> None:
    (talk,) = add_sessions(engine, 1)
    table = Session.__table__
    for round_ in range(30):
        with quick_write(engine) as connection:
            connection.execute(
                sa.update(table).where(table.c.id == talk).values(title=f"draft {round_}")
            )
    # What sync stores now on a server where no other transaction is open
    # (elsewhere one can hold the horizon lower).
    with engine.connect() as connection:
        drafted = snapshot_watermark(connection)
        last_draft = connection.scalar(sa.text(f"SELECT max(id) FROM {transactions(connection)}"))
    drafted = Watermark(transaction_id=last_draft + 1, issued_at=drafted.issued_at)
    with quick_write(engine) as connection:
        store_watermark(connection, drafted)
    with quick_write(engine) as connection:
        connection.execute(sa.update(table).where(table.c.id == talk).values(title="final"))
    watermark = read_watermark(engine)
    (stamp,) = [s for s in load_stamps(engine) if s.table == "sessions"]

    def transactions_read(bound: HistoryBound | None) -> tuple[int, object]:
        with engine.connect() as connection:
            batch_settings(connection)  # as sync's batches run
            (derived,) = connection.execute(
                derived_by_key(stamp, members("postgresql", [talk]), "postgresql", bound)
            ).all()
            read = connection.execute(
                sa.text(
                    "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
                    " FROM pg_stat_xact_user_tables WHERE relname = :name"
                ),
                {"name": TRANSACTION.name},
            ).scalar_one()
        return int(read), derived.derived

    assert watermark.bound is not None
    bounded, bounded_value = transactions_read(watermark.bound)
    whole, whole_value = transactions_read(None)

    assert bounded_value == whole_value
    # The transaction of each of the 32 versions without the bound; with it,
    # the final change's, plus the planner's own few reads.
    assert bounded <= 3 and whole >= 32


def test_a_sync_that_began_before_its_time_bound_was_cleared_does_not_renew_it(
    engine: sa.Engine, config: object
) -> None:
    add_sessions(engine, 3)
    run(engine, config, "sync")
    started = read_watermark(engine)
    assert started.issued_at is not None
    with quick_write(engine) as connection:
        forget_time_bound(connection)  # an import of older history, while the sync runs
    reached = Watermark(transaction_id=started.transaction_id + 1, issued_at=utcnow())
    with quick_write(engine) as connection:
        store_watermark(connection, reached, started_from=started)

    assert read_watermark(engine) == Watermark(transaction_id=reached.transaction_id)
    run(engine, config, "sync")
    assert read_watermark(engine).issued_at is not None


@pytest.mark.postgresql_only
def test_a_row_locked_by_a_writer_is_skipped_not_waited_for_and_repaired_later(
    engine: sa.Engine, config: object
) -> None:
    ids = add_sessions(engine, 5)
    run(engine, config, "sync")
    change_title_then_break_stamp(engine, [ids[2]], "edited")
    with engine.connect() as connection:
        edit = connection.scalar(sa.text(f"SELECT max(id) FROM {transactions(connection)}"))
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT id FROM sessions WHERE id = :id FOR UPDATE"), {"id": ids[2]})
        started = time.monotonic()
        blocked = run(engine, config, "sync")
        held_watermark = read_watermark(engine).transaction_id
        full = run(engine, config, "reconcile")
        holder.rollback()
    assert time.monotonic() - started < 5, "a repair waited for a row lock"
    assert (blocked.rows_skipped, blocked.rows_repaired) == (1, 0)
    assert blocked.watermark_to == held_watermark <= edit  # held at or below the skipped change
    assert (full.rows_skipped, full.rows_repaired) == (1, 0)

    retried = run(engine, config, "sync")

    assert retried.rows_repaired == 1
    assert drifted_keys(engine) == []


def test_rows_without_history_are_counted_unversioned_and_left_alone(
    engine: sa.Engine, config: object
) -> None:
    ids = add_sessions(engine, 3)
    with (
        quick_write(engine) as connection,
        append_only.retention(connection, (version_table_name("sessions"),)),
    ):
        # like a restored backup without history
        connection.execute(
            sa.text(f"DELETE FROM {versions(connection, 'sessions')} WHERE id = :id"),
            {"id": ids[0]},
        )
    set_stamp_only(engine, [ids[0]])

    result = run(engine, config, "reconcile")

    assert (result.rows_unversioned, result.rows_repaired) == (1, 0)
    with engine.connect() as connection:
        stamp = connection.scalar(
            sa.select(Session.__table__.c.last_modified_at).where(Session.__table__.c.id == ids[0])
        )
    assert stamp == WRONG_STAMP


def test_soft_deleted_rows_and_speakers_changes_are_repaired_like_any_other(
    engine: sa.Engine, config: object, sessions: orm.sessionmaker[AuditSession]
) -> None:
    deleted, with_speaker = add_sessions(engine, 2)
    with audit_context(actor="tester", origin="test"), sessions.begin() as session:
        session.get_one(Session, deleted).deleted_at = datetime(2026, 11, 1, tzinfo=UTC)
    with quick_write(engine) as connection:  # a speakers-only change, raw SQL
        connection.execute(sa.text("INSERT INTO speaker (id, name) VALUES (900, 'Ada')"))
        connection.execute(
            sa.text("INSERT INTO speakers_sessions (speaker_id, session_id) VALUES (900, :id)"),
            {"id": with_speaker},
        )
    set_stamp_only(engine, [deleted, with_speaker])

    result = run(engine, config, "reconcile")

    assert result.rows_repaired == 2
    assert drifted_keys(engine) == []


def test_dry_runs_count_drift_and_change_nothing(engine: sa.Engine, config: object) -> None:
    ids = add_sessions(engine, 12)
    set_stamp_only(engine, ids[:4])
    change_title_then_break_stamp(engine, ids[4:6], "x")

    full = run(engine, config, "reconcile", dry_run=True)
    incremental = run(engine, config, "sync", dry_run=True)

    assert (full.id, full.rows_scanned, full.rows_drifted, full.rows_repaired) == (None, 12, 6, 0)
    assert (incremental.rows_scanned, incremental.rows_drifted) == (12, 6)  # first sync: all
    assert len(drifted_keys(engine)) == 6
    assert read_watermark(engine) == Watermark()


def test_verify_reports_drift_and_missing_capture_triggers(
    engine: sa.Engine, config: object
) -> None:
    ids = add_sessions(engine, 5)
    set_stamp_only(engine, ids[1:3])
    assert run(engine, config, "verify").findings() == {
        "capture_problems": [],
        "drifted_keys": {"sessions": ids[1:3]},
    }
    drop = (
        "DROP TRIGGER audittrail_stamp_update ON sessions"
        if engine.dialect.name == "postgresql"
        else "DROP TRIGGER audittrail_sessions_update"
    )
    with quick_write(engine) as connection:
        connection.exec_driver_sql(drop)

    found = run(engine, config, "verify")

    assert found.rows_drifted == 2 and found.rows_repaired == 0
    assert any("is missing" in problem for problem in found.findings()["capture_problems"])


def test_orm_writers_during_reconcile_lose_no_write_and_leave_no_drift(
    engine: sa.Engine, sessions: orm.sessionmaker[AuditSession], database_url: str
) -> None:
    ids = add_sessions(engine, 60)
    set_stamp_only(engine, ids)  # everything drifted when the reconcile starts
    config = settings_for(database_url, batch_size=3)
    last_title: dict[int, str] = {}
    stop = threading.Event()

    def writer(own: list[int], seed: int) -> None:
        chooser = random.Random(seed)  # noqa: S311
        counter = 0
        while not stop.is_set():
            key = chooser.choice(own)
            counter += 1
            title = f"w{seed}-{counter}"
            with audit_context(actor=f"writer{seed}", origin="test"), sessions.begin() as session:
                without_jit(session.connection())  # quick test writes (see quick_write)
                session.get_one(Session, key).title = title
            last_title[key] = title

    # Writers own disjoint rows: two writers racing on one row could order
    # their own stamps differently from history, which is not what this tests.
    # The last third is never written: the reconcile must repair it.
    writers = [
        threading.Thread(target=writer, args=(ids[:40][number::2], number)) for number in range(2)
    ]
    for thread in writers:
        thread.start()
    try:
        results = [run(engine, config, "reconcile") for _ in range(3)]
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=30)

    assert all(result.status == "succeeded" for result in results)
    assert sum(result.rows_repaired for result in results) >= 20
    with engine.connect() as connection:
        titles = dict(connection.execute(sa.text("SELECT id, title FROM sessions")).all())
    assert {key: titles[key] for key in last_title} == last_title
    assert drifted_keys(engine) == []


def test_a_second_run_of_a_job_is_refused_while_the_first_holds_its_lock(
    engine: sa.Engine, config: object
) -> None:
    lock = job_lock(engine, "reconcile")
    assert lock.acquire()
    try:
        with pytest.raises(AlreadyRunningError):
            run_job(engine, config, "reconcile")  # type: ignore[arg-type]
        assert run_job(engine, config, "reconcile", kind="schedule") is None  # type: ignore[arg-type]
    finally:
        lock.release()


def test_a_tick_is_claimed_once_and_dead_runs_are_marked_abandoned(engine: sa.Engine) -> None:
    tick = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    first = claim_run(engine, "reconcile", kind="schedule", scheduled_for=tick)
    second = claim_run(engine, "reconcile", kind="schedule", scheduled_for=tick)
    third = claim_run(engine, "reconcile", kind="manual", scheduled_for=None)

    assert first is not None and second is None and third is not None
    with engine.connect() as connection:
        statuses = dict(connection.execute(sa.select(JobRun.id, JobRun.status)).all())
    assert statuses == {first: "abandoned", third: "running"}


WRITES = st.lists(
    st.tuples(
        st.sampled_from(["title", "title+bad stamp", "speaker", "delete"]), st.integers(0, 4)
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.sqlite_only
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes=WRITES)
def test_after_any_versioned_writes_a_sync_leaves_no_drift(
    engine: sa.Engine, config: object, writes: list[tuple[str, int]]
) -> None:
    ids = add_sessions(engine, 5)
    for number, (kind, index) in enumerate(writes):
        key = ids[index]
        if kind == "title":
            with quick_write(engine) as connection:
                connection.execute(
                    sa.text("UPDATE sessions SET title = :t WHERE id = :id"),
                    {"t": f"t{number}", "id": key},
                )
        elif kind == "title+bad stamp":
            change_title_then_break_stamp(engine, [key], f"b{number}")
        elif kind == "speaker":
            with quick_write(engine) as connection:
                speaker = connection.execute(
                    sa.text("INSERT INTO speaker (name) VALUES ('s') RETURNING id")
                ).scalar_one()
                connection.execute(
                    sa.text("INSERT INTO speakers_sessions VALUES (:s, :id)"),
                    {"s": speaker, "id": key},
                )
        else:
            with quick_write(engine) as connection:
                connection.execute(
                    sa.text("DELETE FROM speakers_sessions WHERE session_id = :id"), {"id": key}
                )
                connection.execute(
                    sa.text(
                        "UPDATE sessions SET deleted_at = '2026-01-01 00:00:00.000000'"
                        " WHERE id = :id"
                    ),
                    {"id": key},
                )

    run(engine, config, "sync")

    assert drifted_keys(engine) == []
    assert run(engine, config, "sync").rows_repaired == 0
