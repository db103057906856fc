from projects.tests.fixtures import *  # noqa: F403
