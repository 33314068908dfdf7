from django.db import migrations, models


def mark_imported(apps, schema_editor):
    # Every row the engine ever wrote carries the message's key; only the
    # imports (fetchmail .fetchids, getmail oldmail, the server's \Seen flags)
    # wrote rows without one. Those must never allow a deletion.
    SeenMessage = apps.get_model("retrieval", "SeenMessage")
    SeenMessage.objects.filter(message_key="").update(origin="imported")


class Migration(migrations.Migration):

    dependencies = [
        ("retrieval", "0022_storage_failures"),
    ]

    operations = [
        migrations.AddField(
            model_name="seenmessage",
            name="header_digest",
            field=models.CharField(blank=True, db_default="", max_length=64),
        ),
        migrations.AddField(
            model_name="seenmessage",
            name="origin",
            field=models.CharField(
                choices=[("taken", "Delivered here"),
                         ("imported",
                          "Imported (another retriever's state or the server's \\Seen flag)")],
                db_default="taken", default="taken", max_length=10),
        ),
        migrations.AddField(
            model_name="seenmessage",
            name="size",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(mark_imported, migrations.RunPython.noop),
    ]
