class DeliveryError(RuntimeError):
    """A channel could not deliver an alert (after its own retries)."""
