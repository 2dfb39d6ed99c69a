"""`python -m booking_service` runs the booking service."""

from .app import main

main()
