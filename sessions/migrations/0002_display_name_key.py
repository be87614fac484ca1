"""Display names are unique in a session by a key folded in Python (sessions.models.display_name_key)
instead of SQL's lower(): the check before a join compared upper(), the constraint lower(), and
names on which the two disagree ("kate" and a Kelvin-sign "\u212aate") joined into a 500."""

import unicodedata

from django.db import migrations, models


def _key(display_name: str) -> str:
    # A copy of display_name_key as it was written with this migration.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", display_name).casefold())


def fill_keys(apps, schema_editor):
    Student = apps.get_model("classroom_sessions", "Student")
    taken: set[tuple[int, str]] = set()
    for student in Student.objects.order_by("joined_at", "id").iterator():
        key = _key(student.display_name)
        if student.removed_at is None:
            if (student.session_id, key) in taken:
                # Two present students whose names the old lower() told apart and folding does
                # not (say "Strauß" and "STRAUSS"): the later one keeps a key of its own.
                key = f"{key}#{student.pk}"
            taken.add((student.session_id, key))
        student.name_key = key
        student.save(update_fields=["name_key"])


class Migration(migrations.Migration):
    dependencies = [("classroom_sessions", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="student", name="name_key", field=models.TextField(default=""), preserve_default=False
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="student", name="display_name_unique_in_session"),
        migrations.AddConstraint(
            model_name="student",
            constraint=models.UniqueConstraint(
                condition=models.Q(("removed_at__isnull", True)),
                fields=("session", "name_key"),
                name="display_name_key_unique_in_session",
            ),
        ),
    ]
