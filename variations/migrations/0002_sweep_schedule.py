from django.db import migrations


def add_sweep(apps, schema_editor):
    """Every minute, restart the dispatcher if jobs wait and nobody follows them (see tasks.sweep)."""
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="fluxsite-sweep",
        defaults={"func": "variations.tasks.sweep", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove_sweep(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="fluxsite-sweep").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("variations", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(add_sweep, remove_sweep)]
