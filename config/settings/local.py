"""Developer machine: `make run`. DEBUG on, console e-mail."""

from .base import *
from .base import env

DEBUG = env.bool("DEBUG", default=True)
