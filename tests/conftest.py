"""Shared test fixtures: the throwaway PostgreSQL cluster and the real hub with the booking service."""

pytest_plugins = ["tests.postgres", "tests.hub"]
