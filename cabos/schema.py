"""The whole schema in one place, for Alembic and for the privacy checks.

Every module that defines tables is imported here; a new one that is not
listed makes `tests/test_migrations.py` fail.
"""

from cabos.contacts import models as contacts_models
from cabos.db import Base
from cabos.tracking import models as tracking_models

metadata = Base.metadata

__all__ = ["metadata", "contacts_models", "tracking_models"]
