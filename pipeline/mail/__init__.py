"""Email that every delivery method shares: the message model, safe headers, MIME building and
the journal-driven sending loop (`sending.py`, which states the delivery guarantees).

The two names every part shares live here, so a delivery or sink can use them without loading the email
package's MIME machinery (`message.py`) until it builds a message."""

EDITION_HEADER = "X-Newsletter-Edition"
TOKEN_TAG = "%token%"  # where each recipient's own signed token goes
