"""Create the three staff groups; their permissions are (re)assigned after every migrate by
integration.staff.groups.refresh_groups_after_migrate (post_migrate), so models added later are covered."""

from django.db import migrations

GROUP_NAMES = ("Integration admin", "Integration operator", "Auditor (read-only)")


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in GROUP_NAMES:
        Group.objects.using(schema_editor.connection.alias).get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
