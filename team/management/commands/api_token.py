from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from team.models import ApiToken


class Command(BaseCommand):
    help = "Make a new API token for a user and print it (last word). Tokens are stored hashed: shown once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line")

    def handle(self, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}. Create one with `manage.py createsuperuser`.")
        _, token = ApiToken.issue(user, name)
        self.stdout.write(f"New API token for {username} (keep it: it is not shown again): {token}")
