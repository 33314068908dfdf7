"""Alerts: find problems, keep one episode per problem, tell people once.

Every minute (retrieval.tasks.evaluate_alerts) the current problems are
found: accounts failing longer than their threshold (grouped by remote
server, so a provider outage is one episode and one message to the
administrators), accounts whose deliveries hit a full mailbox, local storage
low on space or refusing writes, and, once the lead wires heartbeats in, a
worker or beat silent for a minute. A problem
with no open episode opens one; an open episode whose problem is gone
closes. Each episode sends one notice when it opens and one "recovered"
notice when it closes (retrieval/notify.py); an account joining an open
server episode tells only its owner.
"""

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.language import language_for_mailbox
from delivery.models import DeliveryTarget
from retrieval import local_storage as storage
from retrieval import notify
from retrieval.history import label
from retrieval.models import (
    AlertEpisode,
    GlobalSettings,
    OAuthGrant,
    RefusedMessage,
    RemoteAccount,
    UserSettings,
)
from retrieval.models.refused import MAX_ATTEMPTS
from retrieval.oauth.permissions import may_connect

log = logging.getLogger(__name__)

Kind = AlertEpisode.Kind
SILENT_AFTER = dt.timedelta(minutes=1)
ROLES = ("worker", "beat")
LISTED = 50  # accounts named in one message; the rest are counted


@dataclass
class Problem:
    summary: str
    account_ids: list[int] = field(default_factory=list)


def open_episodes():
    """Open episodes, newest first (the dashboard lists these)."""
    return AlertEpisode.objects.filter(closed__isnull=True).order_by("-opened")


def silent_roles(heartbeats, now=None, after: dt.timedelta = SILENT_AFTER) -> dict:
    """{role: last seen or None} for each of worker and beat that nobody has
    heard from within `after`. `heartbeats`: (role, last_seen) pairs, any
    number per role (one per process)."""
    now = now or timezone.now()
    newest = {}
    for role, seen in heartbeats:
        if seen and (newest.get(role) is None or seen > newest[role]):
            newest[role] = seen
    return {role: newest.get(role) for role in ROLES
            if newest.get(role) is None or now - newest[role] > after}


def workers_short(now) -> str:
    """Why fewer workers are alive than expected (POPADMIN_EXPECTED_WORKERS), or ""."""
    from django.conf import settings

    from retrieval.models import Heartbeat

    expected = settings.POPADMIN_EXPECTED_WORKERS
    if not expected:
        return ""
    alive = Heartbeat.alive(now).filter(role=Heartbeat.Role.WORKER).count()
    if alive >= expected:
        return ""
    return _("Only %(alive)s of %(expected)s expected workers alive.") % {
        "alive": alive, "expected": expected}


def heartbeat_pairs() -> list:
    """(role, last seen) of every worker and beat process that ever wrote a heartbeat."""
    from retrieval.models import Heartbeat

    return list(Heartbeat.objects.values_list("role", "last_seen"))


def evaluate(now=None, heartbeats=None) -> dict:
    """One evaluation; returns how many episodes opened and closed.

    `heartbeats`: (role, last_seen) pairs; None leaves worker and beat
    episodes as they are (nothing known about them).
    """
    now = now or timezone.now()
    # Episode summaries are stored as text and read by many (the administrators'
    # notices, the webhook, the dashboard): they are written in the site's language.
    # Owners' own notices switch to each owner's language inside.
    with translation.override(django_settings.LANGUAGE_CODE):
        return _evaluate(now, heartbeats)


def _evaluate(now, heartbeats) -> dict:
    settings = GlobalSettings.load()
    problems = {**failing_accounts(settings, now), **full_mailboxes(),
                **expired_sign_ins(now), **expired_target_sign_ins(now), **refused_messages(),
                **storage_full()}
    kinds = [Kind.ACCOUNTS_FAILING.value, Kind.MAILBOX_FULL.value, Kind.SIGN_IN_EXPIRED.value,
             Kind.TARGET_SIGN_IN_EXPIRED.value, Kind.MESSAGES_REFUSED.value, Kind.STORAGE.value]
    if heartbeats is not None:
        kinds.append(Kind.SILENT.value)
        silent = silent_roles(heartbeats, now)
        for role, seen in silent.items():
            problems[(Kind.SILENT, role)] = Problem(_silent_text(role, seen))
        if "worker" not in silent and (short := workers_short(now)):
            problems[(Kind.SILENT, "worker")] = Problem(short)
    opened, closed = _record(problems, kinds, now)
    _notify_pending(settings, now)
    return {"opened": opened, "closed": closed}


def _silent_text(role, seen) -> str:
    if seen is None:
        return _("No worker has been seen ever.") if role == "worker" else _(
            "No beat has been seen ever.")
    moment = {"moment": f"{seen:%Y-%m-%d %H:%M:%S}"}
    if role == "worker":
        return _("No worker has been seen since %(moment)s UTC.") % moment
    return _("No beat has been seen since %(moment)s UTC.") % moment


def failing_accounts(settings, now) -> dict:
    """Accounts failing longer than their owner's threshold, grouped by server."""
    overrides = dict(UserSettings.objects.filter(alert_after_minutes__isnull=False)
                     .values_list("mailbox_id", "alert_after_minutes"))
    shortest = min([settings.alert_after_minutes, *overrides.values()])
    rows = (RemoteAccount.objects.filter(
        enabled=True, failing_since__lte=now - dt.timedelta(minutes=shortest))
        .select_related("owner").order_by("failing_since", "pk"))
    by_host = defaultdict(list)
    for account in rows.iterator(chunk_size=1000):
        minutes = overrides.get(account.owner_id, settings.alert_after_minutes)
        if account.failing_since <= now - dt.timedelta(minutes=minutes):
            by_host[account.host.lower().rstrip(".")].append(account)
    return {(Kind.ACCOUNTS_FAILING, host): Problem(_failing_text(host, accounts),
                                                    [a.pk for a in accounts])
            for host, accounts in by_host.items()}


def full_mailboxes() -> dict:
    """Accounts whose last check left mail on the server because a mailbox was full."""
    rows = RemoteAccount.objects.filter(
        enabled=True, last_error_kind=RemoteAccount.ErrorKind.MAILBOX_FULL)
    return {(Kind.MAILBOX_FULL, str(a.pk)): Problem(
        _("%(account)s (owner %(owner)s): mail stays on the server because a local mailbox "
          "is full: %(error)s") % {"account": label(a), "owner": a.owner,
                                   "error": a.last_error}, [a.pk])
        for a in rows.select_related("owner")}


def storage_full() -> dict:
    """Local storage low or unusable (retrieval/local_storage.py), and the accounts whose
    last check the mail storage refused (a file-system quota or a full disk that the
    free space figures do not show): one episode per place, for the administrators."""
    problems = {(Kind.STORAGE, place.name): Problem(
        _("Local %(place)s: %(problem)s.") % {"place": place.label, "problem": place.problem})
                for place in storage.places() if not place.ok}
    refused = list(RemoteAccount.objects.filter(
        enabled=True, last_error_kind=RemoteAccount.ErrorKind.STORAGE_FULL)
        .select_related("owner").order_by("pk")[:LISTED + 1])
    if refused:
        key = (Kind.STORAGE, "mail_root")
        lines = ["- " + _("%(account)s (owner %(owner)s): %(error)s") % {
            "account": label(a), "owner": a.owner, "error": a.last_error}
            for a in refused[:LISTED]]
        text = _("The mail storage refuses deliveries; mail stays on the remote servers:") + "\n"
        text += "\n".join(lines) + ("\n..." if len(refused) > LISTED else "")
        if key in problems:
            text = f"{problems[key].summary}\n{text}"
        problems[key] = Problem(text, [a.pk for a in refused])
    return problems


def expired_sign_ins(now) -> dict:
    """OAuth2 accounts whose grant the provider refused or that ran out: only a person
    signing in again (Reconnect) brings the mail back, so it is told at once, per account."""
    rows = (RemoteAccount.objects.filter(enabled=True, oauth_grant__isnull=False)
            .exclude(auth_method=RemoteAccount.AuthMethod.PASSWORD)
            .filter(_lapsed(now, "oauth_grant__"))
            .select_related("owner", "oauth_grant__provider"))
    return {(Kind.SIGN_IN_EXPIRED, str(a.pk)): Problem(
        _("%(account)s (owner %(owner)s): the %(provider)s sign-in expired or was revoked. "
          "Mail waits on the server until someone presses Reconnect on the account and signs "
          "in again.") % {"account": label(a), "owner": a.owner,
                          "provider": a.oauth_grant.provider}, [a.pk]) for a in rows}


def expired_target_sign_ins(now) -> dict:
    """IMAP APPEND delivery targets whose OAuth2 sign-in the provider refused or that ran
    out: every message for them stays on its remote server until an administrator signs
    the target in again, so the administrators are told at once, per target (the owners
    could not fix it; their accounts' own failures still reach them as usual)."""
    grants = (OAuthGrant.objects.filter(target__isnull=False)
              .exclude(target__auth_method=DeliveryTarget.AuthMethod.PASSWORD)
              .filter(_lapsed(now))
              .select_related("target", "provider"))
    return {(Kind.TARGET_SIGN_IN_EXPIRED, str(g.target_id)): Problem(
        _("Delivery target %(target)s: the %(provider)s sign-in expired or was revoked. Mail "
          "for its mailboxes waits on the remote servers until an administrator presses "
          "Connect on the target and signs in again.") % {"target": g.target.name,
                                                          "provider": g.provider}) for g in grants}


def refused_messages() -> dict:
    """Accounts with messages left on the server after MAX_ATTEMPTS failed fetches
    (retrieval/refusals.py): they stay there until someone acts, so they are told
    at once, per account, naming each message and why."""
    rows = (RefusedMessage.objects.filter(attempts__gte=MAX_ATTEMPTS, account__enabled=True)
            .select_related("account__owner").order_by("account_id", "first_failed", "pk"))
    by_account = defaultdict(list)
    for row in rows:
        by_account[row.account].append(row)
    return {(Kind.MESSAGES_REFUSED, str(a.pk)): Problem(_refused_text(a, held), [a.pk])
            for a, held in by_account.items()}


def _refused_text(account, held) -> str:
    lines = [ngettext(
        "%(account)s (owner %(owner)s): %(count)s message(s) stay on the server and are no "
        "longer fetched: the server would not send them whole. An administrator can have them "
        "tried again (the account's page in the admin, Messages the server would not send: "
        "delete the line).",
        "%(account)s (owner %(owner)s): %(count)s message(s) stay on the server and are no "
        "longer fetched: the server would not send them whole. An administrator can have them "
        "tried again (the account's page in the admin, Messages the server would not send: "
        "delete the line).", len(held)) % {
            "account": label(account), "owner": account.owner, "count": len(held)}, *(
                 f"- {row.summary()}" for row in held[:LISTED])]
    if len(held) > LISTED:
        lines.append(_("... and %(count)s more") % {"count": len(held) - LISTED})
    return "\n".join(lines)


def _lapsed(now, via: str = "") -> Q:
    """OAuth2 grants (reached through `via`) that no longer sign in: the provider refused
    them, or their known expiry has passed."""
    return Q(**{f"{via}expired": True}) | Q(**{f"{via}refresh_expires__lte": now})


def _failing_text(host, accounts) -> str:
    lines = [ngettext("%(count)s account(s) on %(host)s failing:",
                      "%(count)s account(s) on %(host)s failing:", len(accounts)) % {
        "count": len(accounts), "host": host}]
    for account in accounts[:LISTED]:
        lines.append(_account_line(account))
    if len(accounts) > LISTED:
        lines.append(_("... and %(count)s more") % {"count": len(accounts) - LISTED})
    return "\n".join(lines)


def _account_line(account) -> str:
    return "- " + _("%(account)s (owner %(owner)s), failing since %(since)s UTC, %(count)s "
                    "failed checks: %(error)s") % {
        "account": label(account), "owner": account.owner,
        "since": f"{account.failing_since:%Y-%m-%d %H:%M}",
        "count": account.consecutive_failures, "error": account.last_error}


def _record(problems: dict, kinds, now) -> tuple[int, int]:
    opened = closed = 0
    # Plain strings: a TextChoices member does not hash like its value.
    problems = {(str(kind), key): problem for (kind, key), problem in problems.items()}
    current = {(e.kind, e.key): e for e in open_episodes().filter(kind__in=kinds)}
    for (kind, key), problem in problems.items():
        episode = current.get((kind, key))
        if episode is None:
            try:
                with transaction.atomic():
                    AlertEpisode.objects.create(kind=kind, key=key, opened=now,
                                                summary=problem.summary,
                                                account_ids=problem.account_ids)
                opened += 1
            except IntegrityError:
                pass  # another evaluation opened it a moment ago
            continue
        members = sorted(set(episode.account_ids) | set(problem.account_ids))
        AlertEpisode.objects.filter(pk=episode.pk).update(summary=problem.summary,
                                                          account_ids=members)
    for key, episode in current.items():
        if key not in problems:
            closed += AlertEpisode.objects.filter(pk=episode.pk, closed=None).update(closed=now)
    return opened, closed


def _claim(episode, field_name, now) -> bool:
    """Take the notice to send; only one evaluation wins it."""
    return AlertEpisode.objects.filter(pk=episode.pk, **{field_name: None}).update(
        **{field_name: now, "last_notified": now}) == 1


def _release(episode, field_name):
    AlertEpisode.objects.filter(pk=episode.pk).update(**{field_name: None})


def _notify_pending(settings, now):
    for episode in AlertEpisode.objects.filter(closed=None, opened_notified=None):
        if not _claim(episode, "opened_notified", now):
            continue
        owners = _owner_bodies(settings, episode, episode.account_ids, opened=True)
        notice = notify.Notice(_subject(episode, opened=True), episode.summary, owners,
                               to_admins=settings.alert_admins)
        if notify.send(notice):
            _told(episode, episode.account_ids)
        else:
            _release(episode, "opened_notified")
    # Accounts that joined an open server episode: their owners only.
    for episode in AlertEpisode.objects.filter(closed=None).exclude(opened_notified=None):
        new = sorted(set(episode.account_ids) - set(episode.owners_told))
        if new and settings.alert_owners:
            owners = _owner_bodies(settings, episode, new, opened=True)
            if notify.send(notify.Notice(_subject(episode, opened=True), "", owners, False)):
                _told(episode, new)
    for episode in AlertEpisode.objects.filter(closed__isnull=False, closed_notified=None):
        if episode.opened_notified is None:
            # Never told it opened: nobody waits for its end.
            AlertEpisode.objects.filter(pk=episode.pk).update(closed_notified=now)
            continue
        if not _claim(episode, "closed_notified", now):
            continue
        owners = _owner_bodies(settings, episode, episode.owners_told, opened=False)
        notice = notify.Notice(_subject(episode, opened=False), _recovered(episode), owners,
                               to_admins=settings.alert_admins)
        if not notify.send(notice):
            _release(episode, "closed_notified")


def _told(episode, account_ids):
    episode.refresh_from_db(fields=["owners_told"])
    told = sorted(set(episode.owners_told) | set(account_ids))
    AlertEpisode.objects.filter(pk=episode.pk).update(owners_told=told)


def _owner_bodies(settings, episode, account_ids, opened: bool) -> dict:
    """Each owner's own accounts only: owners never see each other's."""
    # Silent processes and full local storage are the administrators' to fix.
    if (not settings.alert_owners or episode.kind in (Kind.SILENT, Kind.STORAGE)
            or not account_ids):
        return {}
    by_owner = defaultdict(list)
    for account in RemoteAccount.objects.filter(pk__in=account_ids).select_related(
            "owner__user"):
        by_owner[account.owner.address].append(account)
    bodies = {}
    for address, accounts in by_owner.items():
        # In the owner's language (their choice on their page), subject included.
        with translation.override(language_for_mailbox(accounts[0].owner)):
            bodies[address] = (_subject(episode, opened), _owner_body(episode, accounts, opened))
    return bodies


def _owner_body(episode, accounts, opened: bool) -> str:
    if opened and episode.kind == Kind.MAILBOX_FULL:
        return "\n".join(_("%(account)s: mail stays on the remote server: %(error)s") % {
            "account": label(a), "error": a.last_error} for a in accounts)
    if opened and episode.kind == Kind.MESSAGES_REFUSED:
        return "\n".join(_refused_text(a, list(
            a.refused_messages.filter(attempts__gte=MAX_ATTEMPTS))) for a in accounts)
    if opened and episode.kind == Kind.SIGN_IN_EXPIRED:
        return "\n".join(_sign_in_line(a) for a in accounts)
    if opened:
        lines = [_account_line(a) for a in accounts]
        return _("Mail is not being collected for:") + "\n" + "\n".join(lines)
    names = ", ".join(label(a) for a in accounts)
    return _("Collection works again for: %(names)s.") % {"names": names}


def _sign_in_line(account) -> str:
    if may_connect(getattr(account.owner, "user", None), account):
        return _("%(account)s: the sign-in expired. Open your accounts page and press "
                 "Reconnect to sign in again; mail waits on the server until then.") % {
            "account": label(account)}
    return _("%(account)s: the sign-in expired. An administrator must reconnect it; "
             "mail waits on the server until then.") % {"account": label(account)}


def _subject(episode, opened: bool) -> str:
    what = {Kind.ACCOUNTS_FAILING.value: _("accounts on %(key)s failing"),
            Kind.MAILBOX_FULL.value: _("mailbox full (account %(key)s)"),
            Kind.SILENT.value: _("%(key)s silent"),
            Kind.SIGN_IN_EXPIRED.value: _("sign-in expired (account %(key)s)"),
            Kind.TARGET_SIGN_IN_EXPIRED.value:
                _("delivery target sign-in expired (target %(key)s)"),
            Kind.MESSAGES_REFUSED.value:
                _("messages left on the server (account %(key)s)"),
            Kind.STORAGE.value: _("local storage full (%(key)s)"),
            }[str(episode.kind)] % {"key": episode.key}
    return f"[popadmin] {what}" if opened else "[popadmin] " + _("recovered: %(what)s") % {
        "what": what}


def _recovered(episode) -> str:
    minutes = round((episode.closed - episode.opened).total_seconds() / 60)
    return (_("Recovered at %(moment)s UTC after about %(minutes)s min.") % {
        "moment": f"{episode.closed:%Y-%m-%d %H:%M}", "minutes": minutes}
        + "\n\n" + _("The problem was:") + f"\n{episode.summary}")
