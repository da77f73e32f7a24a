"""Many sources and outputs at once, as the selection bar and the API's bulk actions pick them:
find them, star them, delete them, zip them. One place, so the pages and the API agree."""

from django.db import transaction

from ..models import Output, Source
from . import archive
from .sources import delete_files_on_commit, delete_source

MAX_ITEMS = 500  # of each kind in one request: a few pages of a library, not the whole of it


class Selection:
    """The sources and outputs named by id, in the order given; `unknown` holds ids that name nothing."""

    def __init__(self, source_ids=(), output_ids=()):
        source_ids, output_ids = list(dict.fromkeys(source_ids)), list(dict.fromkeys(output_ids))
        found_sources = Source.objects.in_bulk(source_ids)
        found_outputs = Output.objects.select_related("variation__owner", "variation__source").in_bulk(output_ids)
        self.sources = [found_sources[pk] for pk in source_ids if pk in found_sources]
        self.outputs = [found_outputs[pk] for pk in output_ids if pk in found_outputs]
        self.unknown = [str(pk) for pk in source_ids if pk not in found_sources]
        self.unknown += [str(pk) for pk in output_ids if pk not in found_outputs]

    def __len__(self):
        return len(self.sources) + len(self.outputs)

    @property
    def things(self):
        return [*self.sources, *self.outputs]

    def refused_deletes(self, person):
        """How many of these the person may not delete (members: their own work only; admins anything)."""
        refused = sum(not source.deletable_by(person) for source in self.sources)
        return refused + sum(not output.variation.deletable_by(person) for output in self.outputs)

    def delete(self):
        """Delete the outputs, then the sources with their galleries; a source whose jobs still run is kept.
        Returns (deleted, kept_running): counts. Check refused_deletes first."""
        with transaction.atomic():
            Output.objects.filter(pk__in=[output.pk for output in self.outputs]).delete()
            delete_files_on_commit([field for output in self.outputs for field in (output.image, output.thumbnail)])
        running = sum(delete_source(source) is None for source in self.sources)
        return len(self) - running, running

    def star(self, starred=True):
        """Star (or unstar) every output; only that column is written, as set_starred does. Returns how many."""
        return Output.objects.filter(pk__in=[output.pk for output in self.outputs]).update(starred=starred)

    def write_zip(self, fileobj):
        """The sources and outputs in one zip with parameters.json and parameters.csv."""
        archive.write_archive(fileobj, self.sources, self.outputs)
