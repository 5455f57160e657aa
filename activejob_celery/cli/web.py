"""``celery -A app jobs web``: serve the jobs dashboard (queues, scheduled, dead, recurring)."""

from __future__ import annotations

import click

from ..errors import ConfigurationError
from ..web.server import run
from .context import app_from


@click.command(name="web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5555, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--root-path",
    default="",
    help="Path prefix a reverse proxy serves the dashboard under (e.g. /jobs).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@click.pass_context
def web(ctx: click.Context, host: str, port: int, root_path: str, log_level: str) -> None:
    """Serve the jobs dashboard in a browser.

    Off loopback addresses it needs credentials: activejob_web_username and
    activejob_web_password (basic auth) or activejob_web_token.

    Example: celery -A shop jobs web --port 5555
    """
    app = app_from(ctx)
    # Job classes often live in autodiscovered modules; run-now and retries resolve them here.
    app.loader.import_default_modules()
    try:
        run(app, host=host, port=port, root_path=root_path, log_level=log_level)
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None
