"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('extractor_key', sa.String(length=128), nullable=False),
    sa.Column('grid_key', sa.String(length=64), nullable=False),
    sa.Column('config_json', sa.Text(), nullable=False),
    sa.Column('summary_json', sa.Text(), nullable=False),
    sa.Column('metrics_json', sa.Text(), nullable=False),
    sa.Column('weights', sa.LargeBinary(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_key', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patient_key')
    )
    op.create_table('settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value_json', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('studies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('study_key', sa.String(length=128), nullable=False),
    sa.Column('study_date', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patient_id', 'study_key')
    )
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_studies_patient_id'), ['patient_id'], unique=False)

    op.create_table('images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('source_path', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('bits_stored', sa.Integer(), nullable=False),
    sa.Column('spacing_row_mm', sa.Float(), nullable=True),
    sa.Column('spacing_col_mm', sa.Float(), nullable=True),
    sa.Column('laterality', sa.String(length=1), nullable=True),
    sa.Column('view', sa.String(length=16), nullable=True),
    sa.Column('photometric', sa.String(length=16), nullable=False),
    sa.Column('modality', sa.String(length=16), nullable=True),
    sa.Column('window_center', sa.Float(), nullable=True),
    sa.Column('window_width', sa.Float(), nullable=True),
    sa.Column('sop_instance_uid', sa.String(length=128), nullable=True),
    sa.Column('y_m', sa.Integer(), nullable=True),
    sa.Column('y_b', sa.Integer(), nullable=True),
    sa.Column('birads', sa.String(length=8), nullable=True),
    sa.Column('pathology', sa.Text(), nullable=True),
    sa.Column('label_source', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('import_warnings', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_images_study_id'), ['study_id'], unique=False)

    op.create_table('annotations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('cls', sa.String(length=1), nullable=False),
    sa.Column('polygon_json', sa.Text(), nullable=False),
    sa.Column('annotator', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('annotations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annotations_image_id'), ['image_id'], unique=False)

    op.create_table('region_grids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('grid_key', sa.String(length=64), nullable=False),
    sa.Column('size_px', sa.Integer(), nullable=False),
    sa.Column('stride_px', sa.Integer(), nullable=False),
    sa.Column('min_inside', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('image_id', 'grid_key')
    )
    with op.batch_alter_table('region_grids', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_region_grids_image_id'), ['image_id'], unique=False)

    op.create_table('annotation_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('annotation_id', sa.Integer(), nullable=False),
    sa.Column('cls', sa.String(length=1), nullable=False),
    sa.Column('polygon_json', sa.Text(), nullable=False),
    sa.Column('annotator', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['annotation_id'], ['annotations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('annotation_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annotation_revisions_annotation_id'), ['annotation_id'], unique=False)

    op.create_table('features',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('extractor_key', sa.String(length=128), nullable=False),
    sa.Column('n_regions', sa.Integer(), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['region_grids.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('grid_id', 'extractor_key')
    )
    with op.batch_alter_table('features', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_features_grid_id'), ['grid_id'], unique=False)

    op.create_table('predictions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('p_m', sa.Float(), nullable=False),
    sa.Column('p_b', sa.Float(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('region_scores', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['region_grids.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_version_id', 'image_id')
    )
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.create_index('ix_pred_image', ['image_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_predictions_model_version_id'), ['model_version_id'], unique=False)

    op.create_table('regions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('x0', sa.Integer(), nullable=False),
    sa.Column('y0', sa.Integer(), nullable=False),
    sa.Column('x1', sa.Integer(), nullable=False),
    sa.Column('y1', sa.Integer(), nullable=False),
    sa.Column('inside_fraction', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['region_grids.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('grid_id', 'idx')
    )
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_regions_grid_id'), ['grid_id'], unique=False)

    op.create_table('region_labels',
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=8), nullable=False),
    sa.Column('iom', sa.Float(), nullable=False),
    sa.Column('alpha', sa.Float(), nullable=False),
    sa.Column('annotation_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['annotation_id'], ['annotations.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('region_id')
    )


def downgrade() -> None:
    op.drop_table('region_labels')
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_regions_grid_id'))

    op.drop_table('regions')
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_predictions_model_version_id'))
        batch_op.drop_index('ix_pred_image')

    op.drop_table('predictions')
    with op.batch_alter_table('features', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_features_grid_id'))

    op.drop_table('features')
    with op.batch_alter_table('annotation_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annotation_revisions_annotation_id'))

    op.drop_table('annotation_revisions')
    with op.batch_alter_table('region_grids', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_region_grids_image_id'))

    op.drop_table('region_grids')
    with op.batch_alter_table('annotations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annotations_image_id'))

    op.drop_table('annotations')
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_images_study_id'))

    op.drop_table('images')
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_studies_patient_id'))

    op.drop_table('studies')
    op.drop_table('settings')
    op.drop_table('patients')
    op.drop_table('model_versions')
