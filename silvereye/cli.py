"""The ``silvereye`` command line: one thin function per command.

Commands declare their options and call into the package; the logic raises
:class:`~silvereye.errors.SilvereyeError` for anything a user can fix, and
:func:`main` turns that into ``error: <one line>`` and exit status 1, never a
traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from silvereye import __version__
from silvereye import config as config_mod
from silvereye.errors import SilvereyeError

app = typer.Typer(
    name="silvereye",
    help="A private, AWS-compatible cloud that fits in one box.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigOpt = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="Configuration file (default: /etc/silvereye/silvereye.yaml).", envvar=config_mod.ENV_VAR),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of text.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"silvereye {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", "-V", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """A private, AWS-compatible cloud that fits in one box."""


# ---------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------

config_app = typer.Typer(help="Show and check the configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Print the effective configuration (file values over defaults)."""
    cfg = config_mod.load(config)
    data = cfg.to_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        import yaml

        typer.echo(f"# from {cfg.source}")
        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())


@config_app.command("check")
def config_check(config: ConfigOpt = None) -> None:
    """Validate the configuration file; one line naming the bad key if it is not valid."""
    cfg = config_mod.load(config)
    typer.echo(f"{cfg.source}: valid")


@config_app.command("doc")
def config_doc() -> None:
    """List every setting with its default and what it is for."""
    for key, default, doc in config_mod.describe():
        typer.echo(f"{key} (default {default})\n    {doc}")


# ---------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------

images_app = typer.Typer(help="Build the tiny image and list the image catalog.", no_args_is_help=True)
app.add_typer(images_app, name="images")


@images_app.command("build-tiny")
def images_build_tiny(
    out: Annotated[Optional[Path], typer.Option("--out", help="Directory for the image files (default: the silvereye cache).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when a cached build matches.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build the tiny test image (kernel + busybox initramfs + root disk) from Debian packages."""
    from silvereye.images import tiny
    from silvereye.images.report import show_tiny

    image = show_tiny(lambda report: tiny.build(out, force=force, report=report), as_json=as_json)
    if as_json:
        typer.echo(json.dumps({"directory": str(image.directory), "cached": image.cached, **image.manifest}, indent=2))


@images_app.command("list")
def images_list(as_json: JsonOpt = False) -> None:
    """List the images of the catalog and whether the tiny image is built."""
    from silvereye.images.report import list_images

    list_images(as_json=as_json)


def main() -> None:
    """Console-script entry point: run the app, turning user errors into one line.

    Click (in standalone mode) already reports usage errors in one line with
    exit status 2; what reaches us here is our own SilvereyeError.
    """
    try:
        app()
    except SilvereyeError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED if sys.stderr.isatty() else None)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
