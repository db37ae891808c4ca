"""The whole schema in one place, for Alembic and for the privacy checks.

Every module that defines tables is imported here; a new one that is not
listed makes `tests/test_migrations.py` fail.
"""

from cabos.contacts import models as contacts_models
from cabos.dashboard import models as dashboard_models
from cabos.db import Base
from cabos.intent import models as intent_models
from cabos.nurture import models as nurture_models
from cabos.nurture.bounces import models as bounce_models
from cabos.sales import models as sales_models
from cabos.limits import models as limits_models
from cabos.sales.crm import models as crm_models
from cabos.staff import models as staff_models
from cabos.tracking import models as tracking_models

metadata = Base.metadata

__all__ = ["metadata", "bounce_models", "contacts_models", "dashboard_models", "intent_models", "nurture_models", "sales_models", "crm_models", "limits_models", "staff_models", "tracking_models"]
