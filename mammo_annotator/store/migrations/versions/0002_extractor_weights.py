"""extractor weights stored in the project

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('extractor_weights',
    sa.Column('extractor_key', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('meta_json', sa.Text(), nullable=False),
    sa.Column('weights', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('extractor_key')
    )


def downgrade() -> None:
    op.drop_table('extractor_weights')
