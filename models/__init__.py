"""Tables, one module per domain. Importing this package registers all of them."""

from models.availability import AvailabilityOverride, AvailabilityRule, Schedule
from models.bookings import (
    Booking,
    BookingAction,
    BookingHistory,
    BookingStatus,
    IdempotencyKey,
    LessonNote,
)
from models.forms import FormAnswer, FormQuestion, FormReminder, QuestionType
from models.funnel import FunnelEvent, FunnelStep
from models.integrations import (
    CalendarLink,
    CalendarProvider,
    ExternalMeeting,
    ProviderToken,
    SyncedEvent,
)
from models.organizations import (
    Organization,
    OrganizationInvitation,
    OrganizationMember,
    OrganizationRole,
)
from models.outbox import OutboxJob
from models.packages import Enrollment, Package, PackageAdjustment, PackageTemplate
from models.payments import Payment, PaymentRefund, StripeEvent
from models.people import Student, Tutor
from models.reviews import Review, TutorReviewStats
from models.schedule_requests import ScheduleRequest, ScheduleRequestStatus
from models.services import Service, ServiceDuration, ServiceTutor
from models.waitlist import WaitlistEntry, WaitlistOffer, WaitlistStatus
from models.webhooks import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEventType,
)

__all__ = [
    "AvailabilityOverride",
    "AvailabilityRule",
    "Booking",
    "BookingAction",
    "BookingHistory",
    "BookingStatus",
    "CalendarLink",
    "CalendarProvider",
    "Enrollment",
    "ExternalMeeting",
    "FormAnswer",
    "FormQuestion",
    "FormReminder",
    "FunnelEvent",
    "FunnelStep",
    "IdempotencyKey",
    "LessonNote",
    "Organization",
    "OrganizationInvitation",
    "OrganizationMember",
    "OrganizationRole",
    "OutboxJob",
    "Package",
    "PackageAdjustment",
    "PackageTemplate",
    "Payment",
    "PaymentRefund",
    "ProviderToken",
    "QuestionType",
    "Review",
    "Schedule",
    "ScheduleRequest",
    "ScheduleRequestStatus",
    "Service",
    "ServiceDuration",
    "ServiceTutor",
    "StripeEvent",
    "Student",
    "SyncedEvent",
    "Tutor",
    "TutorReviewStats",
    "WaitlistEntry",
    "WaitlistOffer",
    "WaitlistStatus",
    "WebhookDelivery",
    "WebhookDeliveryStatus",
    "WebhookEndpoint",
    "WebhookEventType",
]
