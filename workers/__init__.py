"""Background work: the outbox relay, the job runner and the Dramatiq actor."""
