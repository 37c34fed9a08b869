"""team use: image leases and project-wide job locks

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('image_leases',
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('annotator', sa.String(length=128), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('image_id', 'annotator')
    )
    with op.batch_alter_table('image_leases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_image_leases_expires_at'), ['expires_at'], unique=False)

    op.create_table('job_locks',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    with op.batch_alter_table('image_leases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_image_leases_expires_at'))
    op.drop_table('image_leases')
    op.drop_table('job_locks')
