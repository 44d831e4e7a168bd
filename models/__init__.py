"""Tables, one module per domain. Importing this package registers all of them."""

from models.availability import AvailabilityOverride, AvailabilityRule, Schedule
from models.bookings import Booking, BookingHistory, IdempotencyKey
from models.people import Student, Tutor
from models.services import Service, ServiceDuration, ServiceTutor

__all__ = [
    "AvailabilityOverride",
    "AvailabilityRule",
    "Booking",
    "BookingHistory",
    "IdempotencyKey",
    "Schedule",
    "Service",
    "ServiceDuration",
    "ServiceTutor",
    "Student",
    "Tutor",
]
