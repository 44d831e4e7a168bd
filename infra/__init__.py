"""Infrastructure: database, auth, settings, secrets, mail, pub/sub. Imports only models/."""
