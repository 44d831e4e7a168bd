"""Local fakes of the remote services we call: Stripe, SMTP, Google."""
