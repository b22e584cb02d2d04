"""The gateway's core (the dataplane): validation, auth, limits, the prediction service.

It imports neither the transport nor the persistence implementations: those depend on it."""
