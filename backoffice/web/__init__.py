"""The operations console: server-rendered pages (Jinja2, HTMX) over the same commands."""
