"""Bookings: the only code that writes them, and the reads that show them.

Every change that takes time locks the tutor row, then the student row, then the package
(always in that order, so two changes never wait on each other in a cycle), re-checks the time
with the same slot engine that lists slots, checks the student is not booked elsewhere then,
writes the booking and its history, and commits. A payment settling locks its payment row
before all of them. Row locks in PostgreSQL keep "never over capacity, never a student in two
places" true across any number of server processes.

One module per job, read in this order:

- `requests`: what callers ask and get back (BookingRequest, Caller, Booked, ...), the limits;
- `access`: who may see or act on a booking, as an SQL condition and for one locked booking;
- `writes`: row locks, and the record (one history entry and one live event, background work)
  every change leaves;
- `free_time`: is this time free for this caller (what listing and booking load, the check);
  `held`: what a write's check reads under its locks, in one statement;
- `create`: createBooking(s), a short sequence of steps; `students`: who a booking is for;
  `round_robin`: which tutor a booking without one goes to;
  `idempotency`: a retried request gets the first answer;
- `change`: reschedule, cancel, attendance, pay with package credit;
- `check_in`: a booking's check-in form: answers stored, submitted later, read by those who may;
- `notes`: the tutor's lesson note (written by the tutor's side), and what the caller may see
  of it and of the contact phone;
- `bulk`: many bookings completed, no-show or cancelled at once, each through `change`;
- `settlement`: the payment hold of a booking waiting for its card, and how it settles;
- `outlook`: what a student may book next (the month's allowance left, the same time next week);
- `queries`: lists, loaders, history, attendance flags, a guest's booking by token;
- `export`: the list as a CSV file behind a signed link.

Callers use this package's names: `from domain import bookings; bookings.create_bookings(...)`.
"""

from domain.bookings.access import lock_for_change
from domain.bookings.bulk import MAX_BULK, BulkAction, BulkOutcome, update_bookings
from domain.bookings.change import (
    cancel_booking,
    mark_attendance,
    redeem_package,
    reschedule_booking,
)
from domain.bookings.check_in import save_answers, submit_booking_form, visible_answers
from domain.bookings.create import create_bookings
from domain.bookings.export import CSV_PATH, Export, csv_chunks, open_link, sign_link
from domain.bookings.free_time import TutorSlot
from domain.bookings.notes import MAX_NOTE, Confidential, confidential, set_lesson_note
from domain.bookings.outlook import (
    Allowance,
    Rebook,
    allowances,
    allowances_for_student,
    rebook_suggestions,
)
from domain.bookings.queries import (
    FLAG_COUNT,
    MAX_IDS,
    MAX_PAGE,
    BookingFilter,
    BookingOrder,
    Page,
    attendance_flags,
    attendance_marks,
    booking_by_token,
    conflicting_bookings,
    encode_cursor,
    history_of,
    list_bookings,
    students_by_id,
    visible_bookings,
    visible_student,
)
from domain.bookings.requests import (
    ALTERNATIVES,
    MAX_SLOTS,
    Booked,
    BookingRequest,
    Caller,
    Cancelled,
    Guest,
    SlotChoice,
)
from domain.bookings.settlement import (
    confirm_paid,
    expire_lapsed_holds,
    expire_unpaid,
    lock_payment,
)

__all__ = [
    "ALTERNATIVES",
    "CSV_PATH",
    "FLAG_COUNT",
    "MAX_BULK",
    "MAX_IDS",
    "MAX_NOTE",
    "MAX_PAGE",
    "MAX_SLOTS",
    "Allowance",
    "Booked",
    "BookingFilter",
    "BookingOrder",
    "BookingRequest",
    "BulkAction",
    "BulkOutcome",
    "Caller",
    "Cancelled",
    "Confidential",
    "Export",
    "Guest",
    "Page",
    "Rebook",
    "SlotChoice",
    "TutorSlot",
    "allowances",
    "allowances_for_student",
    "attendance_flags",
    "attendance_marks",
    "booking_by_token",
    "cancel_booking",
    "confidential",
    "confirm_paid",
    "conflicting_bookings",
    "create_bookings",
    "csv_chunks",
    "encode_cursor",
    "expire_lapsed_holds",
    "expire_unpaid",
    "history_of",
    "list_bookings",
    "lock_for_change",
    "lock_payment",
    "mark_attendance",
    "open_link",
    "rebook_suggestions",
    "redeem_package",
    "reschedule_booking",
    "save_answers",
    "set_lesson_note",
    "sign_link",
    "students_by_id",
    "submit_booking_form",
    "update_bookings",
    "visible_answers",
    "visible_bookings",
    "visible_student",
]
