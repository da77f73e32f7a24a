"""`manage.py archive`: export galleries as zips (old ones, chosen ones or all), prune old ones, and
`manage.py archive import ZIP|FOLDER ...` to bring exported galleries back."""

import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from variations.models import Source
from variations.services import archive, restore, sources


class Command(BaseCommand):
    help = (
        "Export galleries (one zip each: source, outputs, parameters, and what `archive import` needs to restore "
        "them) and/or delete them: those unused for DAYS days (--older-than), chosen ones (--source), or all "
        "(--all). Galleries with a job still running are never deleted; by age, galleries with a starred output "
        "are kept unless --include-starred. `archive import ZIP|FOLDER ...` restores exported galleries."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", metavar="import")
        importing = actions.add_parser("import", help="restore exported gallery zips (sources matched by content, nothing twice)")
        importing.add_argument("paths", nargs="+", type=Path, metavar="ZIP|FOLDER")
        parser.add_argument("--older-than", type=int, metavar="DAYS", help="galleries unused for DAYS days (since the last upload or job)")
        parser.add_argument("--source", action="append", default=[], metavar="ID", help="this gallery (its source's id); repeat for more")
        parser.add_argument("--all", action="store_true", help="every gallery of the library")
        parser.add_argument("--export", type=Path, metavar="FOLDER", help="write one zip per gallery into FOLDER")
        parser.add_argument("--delete", action="store_true", help="delete the galleries (after exporting them, with --export)")
        parser.add_argument("--include-starred", action="store_true", help="by age: also take galleries with starred outputs")
        parser.add_argument("--dry-run", action="store_true", help="only list what would be exported or deleted")

    def handle(self, *args, action=None, **options):
        if action == "import":
            return self.import_archives(options["paths"])
        return self.export_or_delete(**options)

    def galleries(self, older_than, source, all, include_starred):
        chosen = [older_than is not None, bool(source), all]
        if sum(chosen) != 1:
            raise CommandError("Say which galleries: --older-than DAYS, --source ID (repeatable) or --all.")
        if older_than is not None:
            if older_than < 0:
                raise CommandError("--older-than must be 0 or more days.")
            return list(archive.galleries_unused_for(older_than, include_starred=include_starred)), f"unused for {older_than} days"
        if all:
            return list(Source.objects.order_by("created_at")), "in the library"
        ids = {value: _as_id(value) for value in source}
        found = {str(gallery.pk): gallery for gallery in Source.objects.filter(pk__in=[i for i in ids.values() if i])}
        unknown = [value for value, canonical in ids.items() if canonical not in found]
        if unknown:
            raise CommandError(f"No gallery with the id {', '.join(unknown)}.")
        return [found[ids[value]] for value in source], "chosen"

    def export_or_delete(self, export, delete, dry_run, **selection):
        if not export and not delete:
            raise CommandError("Say what to do: --export FOLDER, --delete, or both.")
        galleries, which = self.galleries(**{name: selection[name] for name in ("older_than", "source", "all", "include_starred")})
        if export and not dry_run:
            export.mkdir(parents=True, exist_ok=True)
        verb = "Would take" if dry_run else "Taking"
        self.stdout.write(f"{verb} {len(galleries)} galleries {which}.")
        exported = deleted = 0
        for source in galleries:
            label = f"{source.sha256[:12]} (uploaded {source.created_at:%Y-%m-%d})"
            if dry_run:
                self.stdout.write(f"  {label}")
                continue
            if export:
                path = archive.export_gallery(source, export)
                exported += 1
                self.stdout.write(f"  exported {label} to {path}")
            if delete:
                files = sources.delete_source(source)
                if files is None:
                    self.stdout.write(f"  kept {label}: a job is running on it")
                    continue
                deleted += 1
                self.stdout.write(f"  deleted {label} and {files} files")
        if not dry_run:
            self.stdout.write(self.style.SUCCESS(f"Exported {exported}, deleted {deleted} galleries."))

    def import_archives(self, paths):
        files = []
        for path in paths:
            if path.is_dir():
                files += sorted(path.glob("*.zip"))
            elif path.is_file():
                files.append(path)
            else:
                raise CommandError(f"{path}: no such file or folder.")
        added = 0
        for path in files:
            try:
                result = restore.import_gallery(path)
            except restore.NotAnArchive as exc:
                raise CommandError(str(exc)) from None
            added += result.jobs_added
            state = "new source" if result.source_created else "source already here"
            self.stdout.write(
                f"  {path.name}: {state} {result.source.sha256[:12]}, {result.jobs_added} jobs and "
                f"{result.outputs_added} outputs added, {result.jobs_already_here} jobs already here"
            )
            if result.unknown_people:
                self.stdout.write(f"    made by people not known here (kept without a name): {', '.join(sorted(result.unknown_people))}")
            for missing in result.missing_files:
                self.stdout.write(f"    not in the zip: {missing}")
        self.stdout.write(self.style.SUCCESS(f"Imported {len(files)} galleries, {added} jobs added."))


def _as_id(value):
    """A gallery id in its canonical form, or None for text that cannot be one."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
