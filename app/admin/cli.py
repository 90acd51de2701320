"""`flask users …`: the admins' door onto the same rules as the API (docs/cli.md)."""

import shlex
import sys
import time
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from flask.cli import AppGroup
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError

from app.admin.exporter import export_users, export_users_to_file
from app.admin.importer import ImportSummary, import_rows, import_users
from app.admin.openim_import import OpenImUsers, SourceUnreadable
from app.checkout_or_installed import admin_command
from app.errors import ServiceError
from app.openim import PLATFORM_NAMES
from app.rules import pages, tokens, users
from app.storage.database import is_missing_schema
from app.wire_format import go_json
from app.wire_format.field_rules import create_user_schema
from app.wire_format.schema_base import describe_errors


class RuleCommand(click.Command):
    """A command whose refusals by the rules end it with one line, not a traceback.

    `USER_ID: user not registered`, or how to set up a database without tables.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ServiceError as refusal:
            subject = ctx.params.get("user_id")
            raise click.ClickException(f"{subject}: {refusal.message}" if subject else refusal.message) from None
        except DBAPIError as error:
            if is_missing_schema(error):
                raise click.ClickException(
                    f"the database has no tables yet: run `{admin_command('db upgrade')}` first"
                ) from None
            raise


class UsersGroup(AppGroup):
    command_class = RuleCommand


users_cli = UsersGroup("users", help="Register, inspect and remove users.")

PLATFORM_HELP = "Platform number: " + ", ".join(f"{n} {name}" for n, name in PLATFORM_NAMES.items())
platform_option = click.option(
    "--platform",
    type=click.IntRange(1, 9),
    default=1,
    show_default=True,
    help=PLATFORM_HELP,
)


def fail(message: str) -> None:
    raise click.ClickException(message)


def on_terminal() -> bool:
    """Whether a progress bar is worth drawing: someone watches stderr."""
    return sys.stderr.isatty()


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"{name!r} is not a time zone (e.g. UTC, Asia/Shanghai)") from None


@users_cli.command("create")
@click.argument("user_id")
@click.option("--nickname", required=True)
@click.option("--face-url")
@click.option("--gender", type=int)
@click.option("--phone-number")
@click.option("--birth", type=int)
@click.option("--email")
@click.option("--ex")
@click.option(
    "--operation-id",
    help="Stored with the user; creating again with the same one is a retry, not an error. "
    "Default: a fresh one, so an existing USER_ID is an error.",
)
def create_command(user_id, nickname, face_url, gender, phone_number, birth, email, ex, operation_id):
    """Register USER_ID, with the same rules as /auth/user_register."""
    if operation_id is None:
        operation_id = f"cli-{uuid.uuid4().hex}"
    row = {
        "userID": user_id,
        "nickname": nickname,
        "faceURL": face_url,
        "gender": gender,
        "phoneNumber": phone_number,
        "birth": birth,
        "email": email,
        "ex": ex,
        "operationID": operation_id,
    }
    try:
        profile = create_user_schema.load_wire(row)
    except ValidationError as exc:
        fail(describe_errors(exc.messages))
    profile.pop("operation_id", None)
    existed = users.find_user(profile["user_id"]) is not None
    users.register(profile, operation_id, by_operator=True)
    if existed:
        click.echo(f"{user_id} was already created with operationID {operation_id}: unchanged")
    else:
        click.echo(f"created {user_id}")


@users_cli.command("import")
@click.argument("source", type=click.File("rb"))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["auto", "csv", "jsonl"]),
    default="auto",
    show_default=True,
    help="auto: JSON Lines when the first character is '{', else CSV.",
)
@click.option("--batch-size", type=click.IntRange(1, 10000), default=1000, show_default=True)
def import_command(source, file_format, batch_size):
    """Import users from a CSV (header row of field names) or JSON Lines FILE; '-' is stdin."""
    if on_terminal() and source.seekable():
        size = source.seek(0, 2) - source.seek(0)
        with click.progressbar(length=size, label="Importing", file=sys.stderr) as bar:
            summary = import_users(source, file_format, batch_size, on_progress=bar.update)
    else:
        summary = import_users(source, file_format, batch_size)
    report_summary(summary, "line")
    if summary.invalid_count:
        sys.exit(1)


def report_summary(summary: ImportSummary, row_name: str) -> None:
    """The summary of an import, then each invalid row by its `row_name`."""
    click.echo(f"created {summary.created}, already there {summary.existing}, invalid {summary.invalid_count}")
    # Repeated userIDs are found a batch at a time: put the rows back in order.
    for where, reason in sorted(summary.invalid, key=lambda entry: entry[0]):
        click.echo(f"  {row_name} {where}: {reason}", err=True)
    if summary.invalid_count > len(summary.invalid):
        click.echo(f"  ... and {summary.invalid_count - len(summary.invalid)} more invalid rows", err=True)


@users_cli.command("export")
@click.argument("target", type=click.Path(dir_okay=False, writable=True, allow_dash=True), default="-")
def export_command(target):
    """Write every user as JSON Lines to FILE (default '-', stdout), for `users import`.

    FILE appears only once the export is complete.
    """
    if target == "-":
        with click.open_file("-", "wb") as stdout:
            count = export_users(stdout)
    else:
        count = export_users_to_file(target)
    click.echo(f"exported {count} users", err=True)


@users_cli.command("import-openim")
@click.argument("url")
@click.option(
    "--truncate-nicknames",
    is_flag=True,
    help="Cut nicknames over 64 characters to 64 instead of refusing their users.",
)
@click.option(
    "--timezone",
    "zone",
    callback=lambda context, parameter, name: time_zone(name),
    default="UTC",
    show_default=True,
    help="The OpenIM server's local time zone, in which it wrote birth and create_time.",
)
@click.option("--batch-size", type=click.IntRange(1, 10000), default=1000, show_default=True)
def import_openim_command(url, truncate_nicknames, zone, batch_size):
    """Import the users of an OpenIM v2 MySQL database, e.g. mysql+pymysql://user:pass@host/openim_v2."""
    try:
        with OpenImUsers(url, zone, truncate_nicknames) as source:
            if on_terminal():
                with click.progressbar(length=source.count(), label="Importing", file=sys.stderr) as bar:
                    summary = import_rows(source.rows(), batch_size, lambda: bar.update(source.read - bar.pos))
            else:
                summary = import_rows(source.rows(), batch_size)
    except SourceUnreadable as exc:
        fail(str(exc))
    report_summary(summary, "userID")
    if source.managers:
        click.echo(f"OpenIM's app managers (appMangerLevel 2): {', '.join(source.managers)}")
        click.echo(
            "for the service's configuration (environment): "
            f"FLASK_OPENIM_MANAGER_UIDS={shlex.quote(go_json.dumps(source.managers))}"
        )
    if summary.invalid_count:
        sys.exit(1)


@users_cli.command("token")
@click.argument("user_id")
@platform_option
def token_command(user_id, platform):
    """Print a login token for a registered USER_ID."""
    issued = users.issue_token(user_id, platform)
    click.echo(issued.token)


@users_cli.command("kick")
@click.argument("user_id")
@click.option("--platform", type=click.IntRange(1, 9), help=PLATFORM_HELP + ". Default: every platform.")
def kick_command(user_id, platform):
    """Kick USER_ID's tokens issued so far: they stop being valid at once, on every instance."""
    kicked = users.kick_user(user_id, platform)
    where = "every platform" if platform is None else PLATFORM_NAMES[platform]
    click.echo(f"kicked {kicked} token record(s) of {user_id} on {where}")


def utc_time(unix_seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix_seconds))


@users_cli.command("list")
def list_command():
    """Print every userID, one a line, in order."""
    for batch in pages.iter_user_id_batches():
        click.echo("\n".join(batch))


@users_cli.command("show")
@click.argument("user_id")
def show_command(user_id):
    """Print a user's stored profile and live tokens per platform (never the tokens)."""
    user = users.get_user(user_id)
    for label, value in [
        ("userID", user.user_id),
        ("nickname", user.nickname),
        ("faceURL", user.face_url),
        ("gender", user.gender),
        ("phoneNumber", user.phone_number),
        ("birth", user.birth),
        ("email", user.email),
        ("ex", user.ex),
        ("operationID", user.operation_id),
        ("createdAt", f"{user.created_at.isoformat(timespec='seconds')}Z"),
    ]:
        click.echo(f"{label:12} {value}")
    live = tokens.live_tokens(user.user_id)
    if not live:
        click.echo(f"{'tokens':12} none live")
    for entry in live:
        click.echo(
            f"{'tokens':12} {PLATFORM_NAMES[entry.platform]}: {entry.count} live,"
            f" the last until {utc_time(entry.last_expires_at)}"
        )


@users_cli.command("delete")
@click.argument("user_id")
@click.confirmation_option(prompt="Delete this user?")
def delete_command(user_id):
    """Delete USER_ID."""
    users.delete_user(user_id)
    click.echo(f"deleted {user_id}")
