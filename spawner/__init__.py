"""aglais-hub's booking-aware spawners."""
