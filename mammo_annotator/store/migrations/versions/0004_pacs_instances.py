"""images from a PACS: the DICOMweb root and UIDs each was retrieved by

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pacs_instances',
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('study_uid', sa.String(length=128), nullable=False),
    sa.Column('series_uid', sa.String(length=128), nullable=False),
    sa.Column('sop_uid', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('image_id')
    )


def downgrade() -> None:
    op.drop_table('pacs_instances')
