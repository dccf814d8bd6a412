"""Helpers the tests share: composing configs, running pipelines in process, servers on
loopback, shared model builds. Tests import them from here, never from other test modules or
from conftest.py."""
