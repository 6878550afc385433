"""Subscribers outside the state database: addresses, the CSV list, and signed links.

`addresses.py` checks an address, `csv_io.py` reads and writes the list, `importing.py` imports it
(for a run and for `pipeline subscribers import` alike), `signing.py` holds the
secret and makes and reads the tokens in confirm, unsubscribe and preferences links. Every change
of a subscriber is in `pipeline/state/subscribers.py`.
"""
