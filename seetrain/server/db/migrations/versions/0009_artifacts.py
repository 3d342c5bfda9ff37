"""artifacts: versioned artifacts per project, their files (blobs by sha256 or external URIs),
aliases and run <-> version lineage edges (issue 26).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table("artifacts",
                    sa.Column("id", BigId, primary_key=True, autoincrement=True),
                    sa.Column("project", sa.String(256), nullable=False),
                    sa.Column("name", sa.String(128), nullable=False),
                    sa.Column("type", sa.String(64), nullable=False),
                    sa.Column("created", sa.Float, nullable=False))
    op.create_index("ux_artifacts_project_name", "artifacts", ["project", "name"], unique=True)
    op.create_table("artifact_versions",
                    sa.Column("id", BigId, primary_key=True, autoincrement=True),
                    sa.Column("artifact_id", sa.BigInteger, nullable=False),
                    sa.Column("version", sa.Integer, nullable=False),
                    sa.Column("digest", sa.String(64), nullable=False),
                    sa.Column("type", sa.String(64), nullable=False),
                    sa.Column("size", sa.BigInteger, nullable=False),
                    sa.Column("n_files", sa.Integer, nullable=False),
                    sa.Column("meta", sa.JSON, nullable=False),
                    sa.Column("producer", sa.String(32)),
                    sa.Column("created", sa.Float, nullable=False),
                    sa.Column("deleted", sa.Float))
    op.create_index("ux_artifact_versions_number", "artifact_versions", ["artifact_id", "version"], unique=True)
    op.create_index("ix_artifact_versions_digest", "artifact_versions", ["artifact_id", "digest"])
    op.create_table("artifact_files",
                    sa.Column("version_id", sa.BigInteger, primary_key=True),
                    sa.Column("path", sa.String(1024), primary_key=True),
                    sa.Column("sha256", sa.String(64)),
                    sa.Column("size", sa.BigInteger),
                    sa.Column("uri", sa.Text),
                    sa.Column("etag", sa.String(256)))
    op.create_index("ix_artifact_files_sha256", "artifact_files", ["sha256"])
    op.create_table("artifact_aliases",
                    sa.Column("artifact_id", sa.BigInteger, primary_key=True),
                    sa.Column("alias", sa.String(64), primary_key=True),
                    sa.Column("version_id", sa.BigInteger, nullable=False))
    op.create_table("artifact_edges",
                    sa.Column("run_uuid", sa.String(32), primary_key=True),
                    sa.Column("version_id", sa.BigInteger, primary_key=True),
                    sa.Column("direction", sa.String(8), primary_key=True),
                    sa.Column("time", sa.Float))
    op.create_index("ix_artifact_edges_version", "artifact_edges", ["version_id"])


def downgrade() -> None:
    for name in ("artifact_edges", "artifact_aliases", "artifact_files", "artifact_versions", "artifacts"):
        op.drop_table(name)
