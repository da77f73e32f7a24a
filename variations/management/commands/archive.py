"""`manage.py archive --older-than DAYS (--export FOLDER | --delete)`: back up or clean up old galleries."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from variations.services import archive, sources


class Command(BaseCommand):
    help = (
        "Export (one zip each: source, outputs, parameters) and/or delete the galleries that have seen "
        "no upload and no new job for DAYS days. Galleries with a job still running are never touched; "
        "galleries with a starred output are kept unless --include-starred."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS", help="days since the last upload or job")
        parser.add_argument("--export", type=Path, metavar="FOLDER", help="write one zip per gallery into FOLDER")
        parser.add_argument("--delete", action="store_true", help="delete the galleries (after exporting them, with --export)")
        parser.add_argument("--include-starred", action="store_true", help="also take galleries with starred outputs")
        parser.add_argument("--dry-run", action="store_true", help="only list what would be exported or deleted")

    def handle(self, *args, older_than, export, delete, include_starred, dry_run, **options):
        if older_than < 0:
            raise CommandError("--older-than must be 0 or more days.")
        if not export and not delete:
            raise CommandError("Say what to do: --export FOLDER, --delete, or both.")
        if export and not dry_run:
            export.mkdir(parents=True, exist_ok=True)
        galleries = list(archive.galleries_unused_for(older_than, include_starred=include_starred))
        verb = "Would take" if dry_run else "Taking"
        self.stdout.write(f"{verb} {len(galleries)} galleries unused for {older_than} days.")
        exported = deleted = 0
        for source in galleries:
            label = f"{source.sha256[:12]} (uploaded {source.created_at:%Y-%m-%d}, last used {source.last_used:%Y-%m-%d})"
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
                    self.stdout.write(f"  kept {label}: a job started on it meanwhile")
                    continue
                deleted += 1
                self.stdout.write(f"  deleted {label} and {files} files")
        if not dry_run:
            self.stdout.write(self.style.SUCCESS(f"Exported {exported}, deleted {deleted} galleries."))
