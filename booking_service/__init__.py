"""aglais-hub booking service: the calendar of pools, capacity, packages and bookings."""
