"""Shared test fixtures: the throwaway PostgreSQL cluster, the real hub with the booking service, and real Chromium."""

pytest_plugins = ["tests.postgres", "tests.hub", "tests.browser"]
