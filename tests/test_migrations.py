"""Migrations and models agree; every model module is in the schema."""

import importlib
import pkgutil

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

import cabos
from cabos.db import Base
from cabos.schema import metadata


def test_migrations_match_models(db) -> None:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == [], "models changed without a migration: run `cabos db revision -m '...'`"


def test_schema_imports_every_model_module() -> None:
    for info in pkgutil.walk_packages(cabos.__path__, "cabos."):
        if ".migrations" not in info.name:
            importlib.import_module(info.name)
    assert set(Base.metadata.tables) == set(metadata.tables)
    registered = {m.class_.__module__ for m in Base.registry.mappers}
    import cabos.schema as schema
    listed = {v.__name__ for v in vars(schema).values() if hasattr(v, "__name__") and v.__name__.startswith("cabos.")}
    assert registered <= listed, f"import these in cabos/schema.py: {registered - listed}"


def test_upgrade_from_empty_creates_every_table(tmp_path) -> None:
    from cabos import migrate
    engine = create_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    migrate.upgrade(engine)
    from sqlalchemy import inspect
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()
