"""Fixtures of the production tests: the zone fixtures (projects, users) plus catalog
providers, quotas and sessions built through the services."""

import pytest

from projects.tests.fixtures import *  # noqa: F403
from providers.tests.fixtures import make_provider, provider, set_quota  # noqa: F401


@pytest.fixture
def session(project, regular_user):
    from production.tests.factories import make_session

    return make_session(regular_user, project)


@pytest.fixture(autouse=True)
def _fresh_partition_cache():
    """Tests travel in time: the audit writer's per-process cache of months known to have
    a partition must not outlive a test whose transaction (and partition) rolled back."""
    from audits.partitions import forget_known_months

    forget_known_months()
    yield
    forget_known_months()
