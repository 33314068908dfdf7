from django.db import migrations, models


def from_audit_trail(apps, schema_editor):
    """Accounts the audit trail shows were created by their owner's own, non-staff login."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    LogEntry = apps.get_model("auditlog", "LogEntry")
    RemoteAccount = apps.get_model("retrieval", "RemoteAccount")
    kind = ContentType.objects.filter(app_label="retrieval", model="remoteaccount").first()
    if kind is None:
        return
    created = LogEntry.objects.filter(
        content_type=kind, action=0, actor__isnull=False, actor__is_staff=False,
        actor__is_superuser=False,
    ).values_list("object_pk", "actor_id")
    for pk, actor in created.iterator():
        if pk.isdigit():
            RemoteAccount.objects.filter(pk=int(pk), owner__user_id=actor).update(
                created_by_user=True)


class Migration(migrations.Migration):

    dependencies = [
        ("retrieval", "0024_claim_task"),
        ("auditlog", "__latest__"),
        ("contenttypes", "__latest__"),
    ]

    operations = [
        migrations.AddField(
            model_name="remoteaccount",
            name="created_by_user",
            field=models.BooleanField(
                default=False, editable=False,
                help_text="Added by the mailbox's user on their own pages, not by staff or an "
                "import.",
                verbose_name="set up by its user",
            ),
        ),
        migrations.RunPython(from_audit_trail, migrations.RunPython.noop),
    ]
