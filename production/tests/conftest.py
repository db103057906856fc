"""Fixtures of the production tests: the zone fixtures (projects, users) plus catalog
providers, quotas and sessions built through the services."""

import pytest

from projects.tests.fixtures import *  # noqa: F403
from providers.tests.fixtures import make_provider, provider, set_quota  # noqa: F401


@pytest.fixture
def session(project, regular_user):
    from production.tests.factories import make_session

    return make_session(regular_user, project)
