"""The reporting day's time zone when ``ZAKAZ_TIMEZONE`` is not set.

``settings.py`` reads and validates ``ZAKAZ_TIMEZONE`` with this default; the warehouse's
functions default to it too (a view rendered in another zone is re-rendered). It lives
here, beside the rooms, because the warehouse imports neither the settings nor qtickets/.
No import: every layer may use it.
"""

DEFAULT_TIMEZONE = "Europe/Moscow"
