"""Log line formats, shared by Django's LOGGING and gunicorn's own logs: plain text for a terminal,
one JSON object per line for a log collector."""

LOG_FORMATS = {
    "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
    },
}
