"""Initial schema: the Open Event domain, version and transaction tables, capture triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 15:27:18.374126
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

import auditd.timestamps
from auditd import capture, registry
from auditd.models.namespace import LEGACY, legacy_layout

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audittrail_capture",
        sa.Column("table_name", sa.String(length=255), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("installed_at", auditd.timestamps.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("table_name", name=op.f("pk_audittrail_capture")),
    )
    op.create_table(
        "audittrail_open_transaction",
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("statement_stamp", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("origin", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("remote_addr", sa.String(length=50), nullable=True),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_audittrail_open_transaction")),
    )
    op.create_table(
        "transaction",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("issued_at", auditd.timestamps.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("remote_addr", sa.String(length=50), nullable=True),
        sa.Column("application", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transaction")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_transaction_actor"), "transaction", ["actor"], unique=False)
    op.create_index(op.f("ix_transaction_issued_at"), "transaction", ["issued_at"], unique=False)
    if context.config.attributes.get("adopt"):
        # audittrail adopt creates version tables and triggers from the live columns.
        return

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("location_name", sa.String(length=255), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("starts_at", auditd.timestamps.UTCDateTime(), nullable=True),
        sa.Column("ends_at", auditd.timestamps.UTCDateTime(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("deleted_at", auditd.timestamps.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_table(
        "events_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=255), autoincrement=False, nullable=True),
        sa.Column("description", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("location_name", sa.String(length=255), autoincrement=False, nullable=True),
        sa.Column("timezone", sa.String(length=64), autoincrement=False, nullable=True),
        sa.Column("starts_at", auditd.timestamps.UTCDateTime(), autoincrement=False, nullable=True),
        sa.Column("ends_at", auditd.timestamps.UTCDateTime(), autoincrement=False, nullable=True),
        sa.Column("state", sa.String(length=32), autoincrement=False, nullable=True),
        sa.Column(
            "deleted_at", auditd.timestamps.UTCDateTime(), autoincrement=False, nullable=True
        ),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("end_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_events_version")),
    )
    op.create_index(
        op.f("ix_events_version_end_transaction_id"),
        "events_version",
        ["end_transaction_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_events_version_operation_type"), "events_version", ["operation_type"], unique=False
    )
    op.create_index(
        "ix_events_version_pk_transaction_id",
        "events_version",
        ["id", sa.literal_column("transaction_id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_events_version_pk_validity",
        "events_version",
        ["id", "transaction_id", "end_transaction_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_events_version_transaction_id"), "events_version", ["transaction_id"], unique=False
    )
    op.create_table(
        "sessions_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(length=255), autoincrement=False, nullable=True),
        sa.Column("subtitle", sa.String(length=255), autoincrement=False, nullable=True),
        sa.Column("short_abstract", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("long_abstract", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("comments", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("language", sa.String(length=64), autoincrement=False, nullable=True),
        sa.Column("level", sa.String(length=64), autoincrement=False, nullable=True),
        sa.Column("starts_at", auditd.timestamps.UTCDateTime(), autoincrement=False, nullable=True),
        sa.Column("ends_at", auditd.timestamps.UTCDateTime(), autoincrement=False, nullable=True),
        sa.Column("track_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("microlocation_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("session_type_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("creator_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("slides_url", sa.String(length=1024), autoincrement=False, nullable=True),
        sa.Column("video_url", sa.String(length=1024), autoincrement=False, nullable=True),
        sa.Column("audio_url", sa.String(length=1024), autoincrement=False, nullable=True),
        sa.Column("signup_url", sa.String(length=1024), autoincrement=False, nullable=True),
        sa.Column("state", sa.String(length=32), autoincrement=False, nullable=True),
        sa.Column(
            "created_at",
            auditd.timestamps.UTCDateTime(),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            autoincrement=False,
            nullable=True,
        ),
        sa.Column(
            "submitted_at", auditd.timestamps.UTCDateTime(), autoincrement=False, nullable=True
        ),
        sa.Column("submission_modifier", sa.String(length=255), autoincrement=False, nullable=True),
        sa.Column("is_mail_sent", sa.Boolean(), autoincrement=False, nullable=True),
        sa.Column("send_email", sa.Boolean(), autoincrement=False, nullable=True),
        sa.Column("is_locked", sa.Boolean(), autoincrement=False, nullable=True),
        sa.Column(
            "complex_field_values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            autoincrement=False,
            nullable=True,
        ),
        sa.Column(
            "deleted_at", auditd.timestamps.UTCDateTime(), autoincrement=False, nullable=True
        ),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("end_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_sessions_version")),
    )
    op.create_index(
        op.f("ix_sessions_version_end_transaction_id"),
        "sessions_version",
        ["end_transaction_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_sessions_version_event_id"), "sessions_version", ["event_id"], unique=False
    )
    op.create_index(
        op.f("ix_sessions_version_operation_type"),
        "sessions_version",
        ["operation_type"],
        unique=False,
    )
    op.create_index(
        "ix_sessions_version_pk_transaction_id",
        "sessions_version",
        ["id", sa.literal_column("transaction_id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_sessions_version_pk_validity",
        "sessions_version",
        ["id", "transaction_id", "end_transaction_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_sessions_version_track_id"), "sessions_version", ["track_id"], unique=False
    )
    op.create_index(
        op.f("ix_sessions_version_transaction_id"),
        "sessions_version",
        ["transaction_id"],
        unique=False,
    )
    op.create_table(
        "speaker_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=255), autoincrement=False, nullable=True),
        sa.Column("email", sa.String(length=255), autoincrement=False, nullable=True),
        sa.Column("organisation", sa.String(length=255), autoincrement=False, nullable=True),
        sa.Column("position", sa.String(length=255), autoincrement=False, nullable=True),
        sa.Column("short_biography", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column(
            "deleted_at", auditd.timestamps.UTCDateTime(), autoincrement=False, nullable=True
        ),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("end_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_speaker_version")),
    )
    op.create_index(
        op.f("ix_speaker_version_end_transaction_id"),
        "speaker_version",
        ["end_transaction_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_speaker_version_event_id"), "speaker_version", ["event_id"], unique=False
    )
    op.create_index(
        op.f("ix_speaker_version_operation_type"),
        "speaker_version",
        ["operation_type"],
        unique=False,
    )
    op.create_index(
        "ix_speaker_version_pk_transaction_id",
        "speaker_version",
        ["id", sa.literal_column("transaction_id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_speaker_version_pk_validity",
        "speaker_version",
        ["id", "transaction_id", "end_transaction_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_speaker_version_transaction_id"),
        "speaker_version",
        ["transaction_id"],
        unique=False,
    )
    op.create_table(
        "speakers_sessions_version",
        sa.Column("speaker_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("session_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("end_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "speaker_id", "session_id", "transaction_id", name=op.f("pk_speakers_sessions_version")
        ),
    )
    op.create_index(
        op.f("ix_speakers_sessions_version_end_transaction_id"),
        "speakers_sessions_version",
        ["end_transaction_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_speakers_sessions_version_operation_type"),
        "speakers_sessions_version",
        ["operation_type"],
        unique=False,
    )
    op.create_index(
        "ix_speakers_sessions_version_pk_transaction_id",
        "speakers_sessions_version",
        ["speaker_id", "session_id", sa.literal_column("transaction_id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_speakers_sessions_version_pk_validity",
        "speakers_sessions_version",
        ["speaker_id", "session_id", "transaction_id", "end_transaction_id"],
        unique=False,
    )
    op.create_index(
        "ix_speakers_sessions_version_session_id",
        "speakers_sessions_version",
        ["session_id", "transaction_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_speakers_sessions_version_transaction_id"),
        "speakers_sessions_version",
        ["transaction_id"],
        unique=False,
    )
    op.create_table(
        "tracks_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=255), autoincrement=False, nullable=True),
        sa.Column("description", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("color", sa.String(length=32), autoincrement=False, nullable=True),
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=True),
        sa.Column(
            "deleted_at", auditd.timestamps.UTCDateTime(), autoincrement=False, nullable=True
        ),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("end_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_tracks_version")),
    )
    op.create_index(
        op.f("ix_tracks_version_end_transaction_id"),
        "tracks_version",
        ["end_transaction_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_tracks_version_event_id"), "tracks_version", ["event_id"], unique=False
    )
    op.create_index(
        op.f("ix_tracks_version_operation_type"), "tracks_version", ["operation_type"], unique=False
    )
    op.create_index(
        "ix_tracks_version_pk_transaction_id",
        "tracks_version",
        ["id", sa.literal_column("transaction_id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_tracks_version_pk_validity",
        "tracks_version",
        ["id", "transaction_id", "end_transaction_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_tracks_version_transaction_id"), "tracks_version", ["transaction_id"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "microlocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_microlocations_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_microlocations")),
    )
    op.create_index(
        op.f("ix_microlocations_event_id"), "microlocations", ["event_id"], unique=False
    )
    op.create_table(
        "session_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("length", sa.String(length=32), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_session_types_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_types")),
    )
    op.create_index(op.f("ix_session_types_event_id"), "session_types", ["event_id"], unique=False)
    op.create_table(
        "speaker",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("organisation", sa.String(length=255), nullable=True),
        sa.Column("position", sa.String(length=255), nullable=True),
        sa.Column("short_biography", sa.Text(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("deleted_at", auditd.timestamps.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_speaker_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_speaker_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speaker")),
    )
    op.create_index(op.f("ix_speaker_event_id"), "speaker", ["event_id"], unique=False)
    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("color", sa.String(length=32), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("deleted_at", auditd.timestamps.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_tracks_event_id_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracks")),
    )
    op.create_index(op.f("ix_tracks_event_id"), "tracks", ["event_id"], unique=False)
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("subtitle", sa.String(length=255), nullable=True),
        sa.Column("short_abstract", sa.Text(), nullable=True),
        sa.Column("long_abstract", sa.Text(), nullable=True),
        sa.Column("comments", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=64), nullable=True),
        sa.Column("level", sa.String(length=64), nullable=True),
        sa.Column("starts_at", auditd.timestamps.UTCDateTime(), nullable=True),
        sa.Column("ends_at", auditd.timestamps.UTCDateTime(), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("microlocation_id", sa.Integer(), nullable=True),
        sa.Column("session_type_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("creator_id", sa.Integer(), nullable=True),
        sa.Column("slides_url", sa.String(length=1024), nullable=True),
        sa.Column("video_url", sa.String(length=1024), nullable=True),
        sa.Column("audio_url", sa.String(length=1024), nullable=True),
        sa.Column("signup_url", sa.String(length=1024), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at",
            auditd.timestamps.UTCDateTime(),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=True,
        ),
        sa.Column("submitted_at", auditd.timestamps.UTCDateTime(), nullable=True),
        sa.Column("submission_modifier", sa.String(length=255), nullable=True),
        sa.Column("is_mail_sent", sa.Boolean(), nullable=False),
        sa.Column("send_email", sa.Boolean(), nullable=True),
        sa.Column("is_locked", sa.Boolean(), nullable=False),
        sa.Column(
            "complex_field_values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("deleted_at", auditd.timestamps.UTCDateTime(), nullable=True),
        sa.Column(
            "last_modified_at",
            auditd.timestamps.UTCDateTime(),
            server_default=sa.FetchedValue(),
            nullable=True,
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'accepted', 'confirmed', 'rejected', 'withdrawn', 'canceled')",
            name=op.f("ck_sessions_state"),
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["users.id"],
            name=op.f("fk_sessions_creator_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_sessions_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["microlocation_id"],
            ["microlocations.id"],
            name=op.f("fk_sessions_microlocation_id_microlocations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_type_id"],
            ["session_types.id"],
            name=op.f("fk_sessions_session_type_id_session_types"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_sessions_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index(op.f("ix_sessions_event_id"), "sessions", ["event_id"], unique=False)
    op.create_index(op.f("ix_sessions_track_id"), "sessions", ["track_id"], unique=False)
    op.create_table(
        "speakers_sessions",
        sa.Column("speaker_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_speakers_sessions_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["speaker_id"],
            ["speaker.id"],
            name=op.f("fk_speakers_sessions_speaker_id_speaker"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("speaker_id", "session_id", name=op.f("pk_speakers_sessions")),
    )
    # Capture for the tables just created, as the catalog has them, in the
    # layout of this revision (revision 0010 moves it into the namespace).
    with legacy_layout(op.get_bind()) as connection:
        capture.install(connection, registry.from_catalog(connection, LEGACY))


def _drop_capture() -> None:
    # The registry is in revision 0005's form here (plain column names): only
    # the table names are read, which is all dropping capture needs.
    connection = op.get_bind()
    tables = connection.execute(sa.text("SELECT table_name FROM audittrail_capture")).scalars()
    entries = [
        registry.VersionedTable(
            table=table,
            version_table=LEGACY.version_table(table),
            key=(),
            columns=(),
            transaction_table=LEGACY.transaction_table(),
        )
        for table in tables.all()
    ]
    with legacy_layout(connection):
        capture.drop(connection, entries)
        if entries:
            capture.drop_shared(connection, entries[0])


def _downgrade_adopted() -> None:
    """An adopted database keeps its own tables: drop only what adopt and
    this revision added (triggers, version tables, audit tables). Columns
    adopt added to a live table (sessions.last_modified_at) stay, with data."""
    bind = op.get_bind()
    _drop_capture()
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audittrail_tx()")
    version_tables = bind.execute(sa.text("SELECT version_table FROM audittrail_adoption"))
    for (version_table,) in version_tables.all():
        op.execute(f"DROP TABLE IF EXISTS {registry.quote(version_table)}")
    op.drop_index(op.f("ix_transaction_issued_at"), table_name="transaction")
    op.drop_index(op.f("ix_transaction_actor"), table_name="transaction")
    op.drop_table("transaction")
    op.drop_table("audittrail_open_transaction")
    op.drop_table("audittrail_capture")
    op.drop_table("audittrail_adoption")


def downgrade() -> None:
    # `audittrail adopt` records itself in audittrail_adoption before it runs
    # this revision; the domain tables then belong to another application.
    if sa.inspect(op.get_bind()).has_table("audittrail_adoption"):
        _downgrade_adopted()
        return
    _drop_capture()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audittrail_tx()")
    op.drop_table("speakers_sessions")
    op.drop_index(op.f("ix_sessions_track_id"), table_name="sessions")
    op.drop_index(op.f("ix_sessions_event_id"), table_name="sessions")
    op.drop_table("sessions")
    op.drop_index(op.f("ix_tracks_event_id"), table_name="tracks")
    op.drop_table("tracks")
    op.drop_index(op.f("ix_speaker_event_id"), table_name="speaker")
    op.drop_table("speaker")
    op.drop_index(op.f("ix_session_types_event_id"), table_name="session_types")
    op.drop_table("session_types")
    op.drop_index(op.f("ix_microlocations_event_id"), table_name="microlocations")
    op.drop_table("microlocations")
    op.drop_table("users")
    op.drop_index(op.f("ix_transaction_issued_at"), table_name="transaction")
    op.drop_index(op.f("ix_transaction_actor"), table_name="transaction")
    op.drop_table("transaction")
    op.drop_index(op.f("ix_tracks_version_transaction_id"), table_name="tracks_version")
    op.drop_index("ix_tracks_version_pk_validity", table_name="tracks_version")
    op.drop_index("ix_tracks_version_pk_transaction_id", table_name="tracks_version")
    op.drop_index(op.f("ix_tracks_version_operation_type"), table_name="tracks_version")
    op.drop_index(op.f("ix_tracks_version_event_id"), table_name="tracks_version")
    op.drop_index(op.f("ix_tracks_version_end_transaction_id"), table_name="tracks_version")
    op.drop_table("tracks_version")
    op.drop_index(
        op.f("ix_speakers_sessions_version_transaction_id"), table_name="speakers_sessions_version"
    )
    op.drop_index("ix_speakers_sessions_version_session_id", table_name="speakers_sessions_version")
    op.drop_index(
        "ix_speakers_sessions_version_pk_validity", table_name="speakers_sessions_version"
    )
    op.drop_index(
        "ix_speakers_sessions_version_pk_transaction_id", table_name="speakers_sessions_version"
    )
    op.drop_index(
        op.f("ix_speakers_sessions_version_operation_type"), table_name="speakers_sessions_version"
    )
    op.drop_index(
        op.f("ix_speakers_sessions_version_end_transaction_id"),
        table_name="speakers_sessions_version",
    )
    op.drop_table("speakers_sessions_version")
    op.drop_index(op.f("ix_speaker_version_transaction_id"), table_name="speaker_version")
    op.drop_index("ix_speaker_version_pk_validity", table_name="speaker_version")
    op.drop_index("ix_speaker_version_pk_transaction_id", table_name="speaker_version")
    op.drop_index(op.f("ix_speaker_version_operation_type"), table_name="speaker_version")
    op.drop_index(op.f("ix_speaker_version_event_id"), table_name="speaker_version")
    op.drop_index(op.f("ix_speaker_version_end_transaction_id"), table_name="speaker_version")
    op.drop_table("speaker_version")
    op.drop_index(op.f("ix_sessions_version_transaction_id"), table_name="sessions_version")
    op.drop_index(op.f("ix_sessions_version_track_id"), table_name="sessions_version")
    op.drop_index("ix_sessions_version_pk_validity", table_name="sessions_version")
    op.drop_index("ix_sessions_version_pk_transaction_id", table_name="sessions_version")
    op.drop_index(op.f("ix_sessions_version_operation_type"), table_name="sessions_version")
    op.drop_index(op.f("ix_sessions_version_event_id"), table_name="sessions_version")
    op.drop_index(op.f("ix_sessions_version_end_transaction_id"), table_name="sessions_version")
    op.drop_table("sessions_version")
    op.drop_index(op.f("ix_events_version_transaction_id"), table_name="events_version")
    op.drop_index("ix_events_version_pk_validity", table_name="events_version")
    op.drop_index("ix_events_version_pk_transaction_id", table_name="events_version")
    op.drop_index(op.f("ix_events_version_operation_type"), table_name="events_version")
    op.drop_index(op.f("ix_events_version_end_transaction_id"), table_name="events_version")
    op.drop_table("events_version")
    op.drop_table("events")
    op.drop_table("audittrail_open_transaction")
    op.drop_table("audittrail_capture")
