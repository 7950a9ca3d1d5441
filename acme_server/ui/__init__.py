"""The web UI at /ui: server-rendered pages over the services (no queries of its own), signed in
with an API token; a little plain JavaScript (static/ui.js) only enhances what works without it."""
