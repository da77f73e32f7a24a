from django.db import migrations, models


def name_existing_sources(apps, schema_editor):
    """Sources from before titles: "Variation N of …" when derived (parents first), else "Untitled"."""
    Source = apps.get_model("variations", "Source")
    titles = {}
    for source in Source.objects.select_related("derived_from").order_by("created_at"):
        output = source.derived_from
        if output is not None:
            parent = titles.get(output.variation.source_id, "Untitled")
            source.title = f"Variation {output.index + 1} of {parent}"[:200]
        else:
            source.title = "Untitled"
        titles[source.pk] = source.title
        source.save(update_fields=["title"])


class Migration(migrations.Migration):
    dependencies = [("variations", "0002_sweep_schedule")]

    operations = [
        migrations.AddField(
            model_name="source",
            name="title",
            field=models.CharField(default="", max_length=200),
            preserve_default=False,
        ),
        migrations.RunPython(name_existing_sources, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="variation",
            index=models.Index(fields=["source", "created_at"], name="variations__source__68fe21_idx"),
        ),
        migrations.AddIndex(
            model_name="variation",
            index=models.Index(fields=["seed"], name="variations__seed_4fa511_idx"),
        ),
    ]
