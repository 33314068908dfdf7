"""Thin Celery tasks: take ids, call a service, safe to run twice."""

from celery import shared_task

from retrieval import dispatcher, engine, status


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def fetch_account(account_id: int, trigger: str = "schedule"):
    # Running twice is safe: the account lease admits one session, and
    # seen-state makes a second session fetch nothing already delivered.
    run = engine.run_account(account_id, trigger)
    return run.pk if run else None


@shared_task(ignore_result=True)
def dispatch_due():
    return dispatcher.dispatch(lambda pk: fetch_account.delay(pk, "schedule"))


@shared_task(ignore_result=True)
def reap_stale_runs():
    return status.reap_stale_runs()
