"""Email that every delivery method shares: the message model, safe headers, MIME building and
the journal-driven sending loop (`sending.py`, which states the delivery guarantees)."""
