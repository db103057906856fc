"""The framework floor: the lab app without any history."""

from .base import *  # noqa: F403 (settings layered on the base module)
