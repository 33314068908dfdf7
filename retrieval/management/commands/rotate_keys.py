"""Re-encrypt every stored secret under the first key of POPADMIN_ENCRYPTION_KEY.

Every model field named *_encrypted is covered (remote account passwords,
delivery target relay passwords, and whatever is added later under that
name). Safe to re-run: secrets already under the first key are left as they
are, and each row is written only if it still holds the value that was read,
so a password changed meanwhile is never overwritten.
"""

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError

from popadmin import secrets

SUFFIX = "_encrypted"


def encrypted_fields():
    for model in apps.get_models():
        for f in model._meta.concrete_fields:
            if f.name.endswith(SUFFIX):
                yield model, f.name


class Command(BaseCommand):
    help = "Re-encrypt all stored secrets under the first POPADMIN_ENCRYPTION_KEY key."

    def handle(self, *args, **options):
        unreadable = []
        for model, name in encrypted_fields():
            counts = {"rotated": 0, "current": 0, "changed meanwhile": 0}
            rows = model.objects.exclude(**{name: ""}).values_list("pk", name)
            for pk, token in rows.iterator(chunk_size=500):
                try:
                    new = secrets.rotate(token)
                except secrets.SecretError:
                    unreadable.append(f"{model._meta.label} {pk}")
                    continue
                if new is None:
                    counts["current"] += 1
                elif model.objects.filter(pk=pk, **{name: token}).update(**{name: new}):
                    counts["rotated"] += 1
                else:
                    counts["changed meanwhile"] += 1
            self.stdout.write(
                f"{model._meta.label}.{name}: {counts['rotated']} re-encrypted, "
                f"{counts['current']} already under the current key"
                + (f", {counts['changed meanwhile']} changed meanwhile (left as saved)"
                   if counts["changed meanwhile"] else "")
            )
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} secret(s) cannot be decrypted with any configured key "
                f"(left unchanged; enter them again): {', '.join(unreadable)}"
            )
