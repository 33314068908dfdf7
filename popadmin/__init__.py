"""The project package. Its Celery app (popadmin/celery.py) loads on first use:
`celery -A popadmin` and whoever sends a task import it, while a command such
as `manage.py fetch` starts without Celery's modules."""


def __getattr__(name):
    if name == "celery_app":
        from popadmin.celery import app

        return app
    raise AttributeError(name)
