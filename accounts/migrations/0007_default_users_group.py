"""A new install starts with a group "Users" that lets its members press Check now and
checks their accounts when they log in; new users join it (accounts/admin.py)."""

from django.db import migrations

DEFAULT_GROUP = "Users"  # accounts.policy.DEFAULT_GROUP, frozen here


def create_default_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    GroupPolicy = apps.get_model("accounts", "GroupPolicy")
    group, created = Group.objects.get_or_create(name=DEFAULT_GROUP)
    if created:
        GroupPolicy.objects.create(group=group, allow_manual_check=True,
                                   allow_web_login_trigger=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_grouppolicy_self_service_help"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_default_group, migrations.RunPython.noop)]
