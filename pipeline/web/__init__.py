"""`pipeline serve`: the small web app where people subscribe, confirm, choose themes and leave.

`app.py` builds the Starlette app, `pages.py` and `webhooks.py` hold the routes (thin: they read
the request and call the functions the CLI calls), `guards.py` the form token, origin check and
rate limits, `hosts.py` the host names the app answers to, `proxy.py` the trusted X-Forwarded-*
headers, `body_size.py` how much a request may send, `timely.py` how long it may take to, `server_log.py` what
uvicorn logs of bad requests, `server.py` uvicorn's server stopping on SIGHUP too, `render.py` the pages.
"""
