"""Push watches every folder an account fetches: on one connection with NOTIFY, else one
idle connection per folder."""

from django.db import migrations, models


def marks_to_folders(apps, schema_editor):
    # The single folder watched so far was the account's first one (INBOX when none is set).
    PushWatch = apps.get_model("retrieval", "PushWatch")
    for watch in PushWatch.objects.select_related("account").exclude(uidnext=None, uidvalidity=None):
        folders = list(watch.account.folders or []) or ["INBOX"]
        watch.folders = {folders[0]: {"state": "connecting", "error": "",
                                      "uidvalidity": watch.uidvalidity, "uidnext": watch.uidnext}}
        watch.save(update_fields=["folders"])


def folders_to_marks(apps, schema_editor):
    PushWatch = apps.get_model("retrieval", "PushWatch")
    for watch in PushWatch.objects.select_related("account"):
        folders = list(watch.account.folders or []) or ["INBOX"]
        first = (watch.folders or {}).get(folders[0]) or {}
        watch.uidvalidity, watch.uidnext = first.get("uidvalidity"), first.get("uidnext")
        watch.save(update_fields=["uidvalidity", "uidnext"])


class Migration(migrations.Migration):

    dependencies = [
        ("retrieval", "0031_translatable_field_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="pushwatch",
            name="connections",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="pushwatch",
            name="connected",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="pushwatch",
            name="folders",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="pushwatch",
            name="notify_supported",
            field=models.BooleanField(null=True),
        ),
        migrations.RunPython(marks_to_folders, folders_to_marks, elidable=True),
        migrations.RemoveField(model_name="pushwatch", name="uidvalidity"),
        migrations.RemoveField(model_name="pushwatch", name="uidnext"),
    ]
