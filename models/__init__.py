"""Tables, one module per domain. Importing this package registers all of them."""

from models.people import Student, Tutor

__all__ = ["Student", "Tutor"]
