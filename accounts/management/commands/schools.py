"""The schools whose teachers may sign in with Google or Microsoft, from the command line:

manage.py schools list
manage.py schools allow "Springfield Elementary" --domain springfield.edu --tenant <uuid>
manage.py schools disallow "Springfield Elementary" --domain old.springfield.edu
manage.py schools disallow "Springfield Elementary"          # the school and its whole list
"""

from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.selectors import schools_with_their_lists
from domain.errors import DomainError


class Command(BaseCommand):
    help = "Lists, allows or disallows schools (their e-mail domains and Microsoft tenants)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="every school with its domains and tenants")
        for action, text in (
            ("allow", "add a school, or domains and tenants to one"),
            ("disallow", "take domains or tenants off a school's list, or, given none, the school"),
        ):
            sub = actions.add_parser(action, help=text)
            sub.add_argument("name", help="the school's name")
            sub.add_argument("--domain", action="append", default=[], help="an e-mail domain (repeatable)")
            sub.add_argument(
                "--tenant", action="append", default=[], help="a Microsoft tenant id, a UUID (repeatable)"
            )

    def handle(self, *args, action, **options):
        try:
            if action == "list":
                self._list()
            elif action == "allow":
                school = services.allow_school(
                    name=options["name"], domains=options["domain"], tenant_ids=options["tenant"]
                )
                self.stdout.write(f"allowed: {self._describe(school)}")
            else:
                gone = services.disallow(
                    school_name=options["name"], domains=options["domain"], tenant_ids=options["tenant"]
                )
                self.stdout.write(f"removed: {options['name']}" if gone else "removed from the list")
        except DomainError as exc:
            raise CommandError(exc.message) from exc

    def _list(self):
        schools = list(schools_with_their_lists())
        if not schools:
            self.stdout.write("no schools: nobody can sign in with Google or Microsoft")
        for school in schools:
            self.stdout.write(self._describe(school))

    @staticmethod
    def _describe(school) -> str:
        domains = ", ".join(sorted(d.domain for d in school.domains.all())) or "(no domains)"
        tenants = ", ".join(sorted(t.tenant_id for t in school.tenants.all()))
        return f"{school.name}: {domains}" + (f"; Microsoft tenants: {tenants}" if tenants else "")
