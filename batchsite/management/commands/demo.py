from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from teams.models import Membership, Project, Team
from teams.services import membership_set, project_create, team_create, user_create
from workflows.models import Workflow
from workflows.services import workflow_create

DEMO_WDL = Path(settings.BASE_DIR) / "workflows" / "demo" / "hello.wdl"
DEMO_ROLE = "arn:aws:iam::123456789012:role/batchsite-demo-jobs"
USERS = [  # username, password, staff
    ("operator", "operator-demo", True),
    ("alice", "alice-demo", False),
    ("bob", "bob-demo", False),
    ("carol", "carol-demo", False),
]


class Command(BaseCommand):
    help = "Create the demo accounts, teams, project and hello-world workflow (safe to run again)."

    @transaction.atomic
    def handle(self, *args, **options):
        from django.contrib.auth import get_user_model

        User = get_user_model()
        users = {}
        for username, password, staff in USERS:
            users[username] = User.objects.filter(username=username).first() or user_create(
                username=username, password=password, is_staff=staff
            )
        demo = Team.objects.filter(slug="demo").first() or team_create(
            name="Demo Lab", slug="demo", prefix_root="teams/demo/", allowed_role_arns=[DEMO_ROLE],
            default_role_arn=DEMO_ROLE, max_running_jobs=8,
        )
        other = Team.objects.filter(slug="other").first() or team_create(
            name="Other Lab", slug="other", prefix_root="teams/other/", max_running_jobs=4
        )
        membership_set(team=demo, user=users["alice"], role=Membership.Role.ADMIN)
        membership_set(team=demo, user=users["bob"], role=Membership.Role.VIEWER)
        membership_set(team=other, user=users["carol"], role=Membership.Role.ADMIN)
        project = Project.objects.filter(team=demo, slug="getting-started").first() or project_create(
            team=demo, name="Getting started", slug="getting-started"
        )
        if not Workflow.objects.filter(project=project, slug="hello-world").exists():
            workflow_create(project=project, name="Hello world", source=DEMO_WDL.read_bytes(),
                            filename="hello.wdl", user=users["alice"],
                            description="Greets a name a few times, in parallel.")
        self.stdout.write("Demo logins: " + ", ".join(f"{u}/{p}" for u, p, _ in USERS)
                          + " (operator is staff: /admin/)")
