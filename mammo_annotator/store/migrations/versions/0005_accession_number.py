"""studies: the DICOM AccessionNumber, which the worklist searches by

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accession_number', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.drop_column('accession_number')
