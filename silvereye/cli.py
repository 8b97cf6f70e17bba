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
from silvereye.preflight.roles import Role

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
# preflight
# ---------------------------------------------------------------------------


@app.command()
def preflight(
    role: Annotated[Role, typer.Option(help="What the host will be: cloud-in-a-box, frontend or node controller.", case_sensitive=False)] = Role.ciab,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    ignore: Annotated[Optional[list[str]], typer.Option("--ignore", help="Check ids (comma-separated, or 'all') whose failures become warnings.")] = None,
    fix: Annotated[bool, typer.Option("--fix", help="Apply the safe remedies, print each change, then check again.")] = False,
    host: Annotated[Optional[list[str]], typer.Option("--host", help="Check [USER@]HOST[:PORT] over SSH instead of this host (repeatable).")] = None,
    ssh_key: Annotated[Optional[Path], typer.Option("--ssh-key", help="Private key for --host (default: ssh-agent and ~/.ssh/id_*).")] = None,
    interface: Annotated[Optional[str], typer.Option("--interface", help="Outside interface to check (default: the default route's).")] = None,
    facts: Annotated[Optional[Path], typer.Option("--facts", hidden=True, help="JSON facts that override what is read from the host.")] = None,
) -> None:
    """Check that this host (or --host hosts) can run silvereye; exit 1 if a check fails."""
    from silvereye.preflight import command

    code = command.run(
        role=role, config=config, as_json=as_json, ignore=ignore, fix=fix,
        hosts=host, ssh_key=ssh_key, interface=interface, facts=facts,
    )  # fmt: skip
    raise typer.Exit(code)


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


@app.command()
def serve(
    config: ConfigOpt = None,
    port: Annotated[Optional[int], typer.Option(help="Listen on this port instead of api.port.")] = None,
    listen: Annotated[Optional[str], typer.Option(help="Bind this address instead of api.listen.")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the AWS API stack (every service on one port) in the foreground."""
    from silvereye.serve import serve as run

    cfg = config_mod.load(config)
    if port is not None:
        cfg.api.port = port
    if listen is not None:
        cfg.api.listen = listen
    run(cfg, log_level=log_level)


# ---------------------------------------------------------------------------
# credentials and accounts
# ---------------------------------------------------------------------------

AccountOpt = Annotated[str, typer.Option("--account", "-a", help="Account whose root credentials to print.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="env (shell exports), aws-config (a ~/.aws/config profile) or eucarc.")]


@app.command()
def credentials(config: ConfigOpt = None, account: AccountOpt = "admin", fmt: FormatOpt = "env") -> None:
    """Print what a client needs to use this cloud: endpoint, region and an account's root keys."""
    from silvereye import accounts

    typer.echo(accounts.credentials(config_mod.load(config), account, fmt), nl=False)


account_app = typer.Typer(help="Manage the cloud's accounts (each with its own users, roles and resources).",
                          no_args_is_help=True)
app.add_typer(account_app, name="account")


@account_app.command("create")
def account_create(name: Annotated[str, typer.Argument(help="Account name.")], config: ConfigOpt = None,
                   fmt: FormatOpt = "env") -> None:
    """Create an account with a root access key; print its credentials."""
    from silvereye import accounts

    cfg = config_mod.load(config)
    key, path = accounts.create_account(cfg, name)
    typer.echo(accounts.render(cfg, key, fmt), nl=False)
    typer.echo(f"# also written to {path}", err=True)


@account_app.command("list")
def account_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List the accounts and what each holds."""
    from silvereye import accounts

    rows = accounts.list_accounts(config_mod.load(config))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        held = ", ".join(r["resources"]) or "empty"
        alias = f" alias {r['alias']}" if r["alias"] else ""
        typer.echo(f"{r['name']:<24} {r['id']}{alias}  ({held})")


@account_app.command("delete")
def account_delete(
    name: Annotated[str, typer.Argument(help="Account name.")],
    config: ConfigOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Delete the account's resources too.")] = False,
) -> None:
    """Delete an account (refused while it holds resources, unless --force; never the admin account)."""
    from silvereye import accounts

    gone = accounts.delete_account(config_mod.load(config), name, force)
    typer.echo(f"deleted account {gone.name} ({gone.id})")


# ---------------------------------------------------------------------------
# install, status, node, uninstall (the laydown)
# ---------------------------------------------------------------------------

IgnoreOpt = Annotated[
    Optional[list[str]], typer.Option("--ignore", help="Preflight check ids (comma-separated, or 'all') whose failures do not stop it.")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Take the detected defaults instead of asking.")]
RootOpt = Annotated[Path, typer.Option("--root", hidden=True, help="Prefix for /etc and /run files (tests).")]


@app.command()
def install(
    ciab: Annotated[bool, typer.Option("--cloud-in-a-box", help="Everything on this host: API, storage and instances.")] = False,
    frontend: Annotated[bool, typer.Option("--frontend", help="The API and storage; instances run on nodes (node add).")] = False,
    node: Annotated[bool, typer.Option("--node", help="A node controller: instances only, for a frontend to add.")] = False,
    assume_yes: YesOpt = False,
    answers: Annotated[Optional[Path], typer.Option("--answers", "-a", help="Answers file (YAML) for an unattended install.")] = None,
    config: ConfigOpt = None,
    ignore: IgnoreOpt = None,
    image: Annotated[bool, typer.Option("--image/--no-image", help="Build and register the tiny default image.")] = True,
    root: RootOpt = Path("/"),
) -> None:
    """Install silvereye on this host and bring the cloud up (again: changes only what is missing)."""
    from silvereye.laydown.install import InstallOptions, install as run

    chosen = [r for r, on in ((Role.ciab, ciab), (Role.frontend, frontend), (Role.node, node)) if on]
    if len(chosen) > 1:
        raise SilvereyeError("choose one of --cloud-in-a-box, --frontend and --node")
    run(InstallOptions(chosen[0] if chosen else None, config, answers, assume_yes, list(ignore or []), image, root))


@app.command(hidden=True)
def supervise(
    config: ConfigOpt = None,
    pid_file: Annotated[Path, typer.Option("--pid-file")] = Path("/run/silvereye/silvereye.pid"),
    log_file: Annotated[Path, typer.Option("--log-file")] = Path("/var/log/silvereye/silvereye.log"),
) -> None:
    """Run `silvereye serve` and restart it when it dies (install starts this where systemd is absent)."""
    from silvereye.laydown import service, supervisor

    raise typer.Exit(supervisor.main(service.serve_argv(config or config_mod.DEFAULT_PATH), pid_file, log_file))


@app.command()
def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Show each component's state and each node's free/max capacity per instance type."""
    from silvereye.laydown import status as status_mod

    report = status_mod.collect(config)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        status_mod.show(report)
    raise typer.Exit(0 if report.healthy else 1)


@app.command()
def uninstall(
    config: ConfigOpt = None,
    keep_data: Annotated[bool, typer.Option("--keep-data", help="Keep the data directory (store, objects, images, volumes).")] = False,
    assume_yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop the service and remove everything install created, leaving the host as it was."""
    from silvereye.laydown.uninstall import uninstall as run

    run(config, keep_data=keep_data, assume_yes=assume_yes, interactive=sys.stdin.isatty())


node_app = typer.Typer(help="Add, list and remove the node controllers that run instances.", no_args_is_help=True)
app.add_typer(node_app, name="node")
SshKeyOpt = Annotated[Optional[Path], typer.Option("--ssh-key", help="Private key to log in with (default: ssh-agent and ~/.ssh/id_*).")]


@node_app.command("add")
def node_add(
    target: Annotated[str, typer.Argument(help="[USER@]HOST[:PORT] of the node, reached over SSH.")],
    name: Annotated[Optional[str], typer.Option("--name", help="Node name (default: the node's host name).")] = None,
    ssh_key: SshKeyOpt = None,
    config: ConfigOpt = None,
    ignore: IgnoreOpt = None,
) -> None:
    """Check and prepare a node over SSH, set up libvirt's qemu+ssh trust, and let the scheduler use it."""
    from silvereye.laydown import nodes

    nodes.add(config, target, name=name, ssh_key=ssh_key, ignore=list(ignore or []))


@node_app.command("list")
def node_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List the nodes, their libvirt URIs and whether they answer."""
    from silvereye.laydown import nodes

    rows = nodes.list_nodes(config)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['name']:<20} {r['state']:<12} {r['instances']:>3} instances  {r['uri']}")


@node_app.command("remove")
def node_remove(
    name: Annotated[str, typer.Argument(help="Node name (see `silvereye node list`).")],
    config: ConfigOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Remove it even though instances run there (they are terminated).")] = False,
) -> None:
    """Stop scheduling onto a node and undo node add (refused while it runs instances, unless --force)."""
    from silvereye.laydown import nodes

    nodes.remove(config, name, force=force)


# ---------------------------------------------------------------------------
# kickstart, iso (imports are lazy: `silvereye --version` stays fast)
# ---------------------------------------------------------------------------

kickstart_app = typer.Typer(help="Kickstart files for an unattended install from the DVD.", no_args_is_help=True)
app.add_typer(kickstart_app, name="kickstart")
iso_app = typer.Typer(help="Bootable installer DVD images.", no_args_is_help=True)
app.add_typer(iso_app, name="iso")

ProfileOpt = Annotated[
    Optional[str], typer.Option("--profile", "-p", help="ciab, frontend or node (default: the answers' role).")
]
TargetOpt = Annotated[str, typer.Option("--target", help="rhel9 (Rocky, Alma, CentOS Stream) or fedora.")]
AnswersOpt = Annotated[Optional[Path], typer.Option("--answers", "-a", help="Answers file (YAML).")]


@kickstart_app.command("render")
def kickstart_render(
    answers: AnswersOpt = None,
    profile: ProfileOpt = None,
    target: TargetOpt = "rhel9",
    media_label: Annotated[str, typer.Option("--media-label", help="Volume label of the install media.")] = "",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write here instead of standard output.")] = None,
) -> None:
    """Render a kickstart for one role from an answers file, checked with pykickstart."""
    from silvereye import kickstart
    from silvereye.laydown import answers as answers_mod

    a = answers_mod.load(answers) if answers else answers_mod.parse({}, source="(built-in defaults)")
    rendered = kickstart.render_checked(a, profile, target, media_label)
    for w in rendered.warnings:
        typer.secho(f"warning: {w}", err=True, fg=typer.colors.YELLOW if sys.stderr.isatty() else None)
    if out is None:
        typer.echo(rendered.text, nl=False)
    else:
        kickstart.write_file(out, rendered.text)
        typer.echo(f"{out}: {rendered.profile} kickstart for {rendered.target}", err=True)


@iso_app.command("build")
def iso_build(
    base: Annotated[Path, typer.Option("--base", help="RHEL-9-family or Fedora installation ISO to start from.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the silvereye DVD image.")],
    answers: AnswersOpt = None,
    binary: Annotated[
        Optional[Path], typer.Option("--binary", help="silvereye single binary to put on the disc (default: dist/silvereye).")
    ] = None,
    target: Annotated[Optional[str], typer.Option("--target", help="rhel9 or fedora (default: read from the ISO).")] = None,
    default_entry: Annotated[
        str, typer.Option("--default-entry", help="Menu entry booted on timeout: original, ciab, frontend or node.")
    ] = "original",
    timeout: Annotated[
        Optional[int], typer.Option("--timeout", help="Seconds the boot menu waits (default: the ISO's own).", min=1)
    ] = None,
) -> None:
    """Remaster an installer ISO into a silvereye DVD (Cloud-in-a-box, Frontend, Node entries)."""
    from silvereye.iso import remaster

    opts = remaster.Options(base, out, answers, binary, target, default_entry, timeout)
    result = remaster.build(opts)
    for w in result.warnings:
        typer.secho(f"warning: {w}", err=True, fg=typer.colors.YELLOW if sys.stderr.isatty() else None)
    typer.echo(f"{result.out}: {result.size_mib:.0f} MiB, volume {result.volume_id!r}, entries in {', '.join(result.menus)}")


# ---------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------

images_app = typer.Typer(help="Build the tiny image, list the image catalog, install images into the cloud.", no_args_is_help=True)
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


@images_app.command("install")
def images_install(
    name: Annotated[str, typer.Argument(help="'tiny', or a catalog image ('silvereye images list').")],
    from_file: Annotated[Optional[Path], typer.Option("--from-file", help="Use this image file instead of downloading it.")] = None,
    account: Annotated[str, typer.Option("--account", "-a", help="Account that owns the image.")] = "admin",
    private: Annotated[bool, typer.Option("--private", help="Do not share the image with every account.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload an image to S3 and register it with EC2 (tiny: a kernel, ramdisk and machine image)."""
    from silvereye.services.ec2 import install

    cfg = config_mod.load(config)
    if name == "tiny":
        if from_file is not None:
            raise SilvereyeError("the tiny image is built here, not read from a file; drop --from-file")
        done = install.install_tiny(cfg, account=account, public=not private)
    else:
        done = install.install_catalog(cfg, name, from_file=from_file, account=account, public=not private)
    if as_json:
        typer.echo(json.dumps(done.to_dict(), indent=2))
        return
    parts = ", ".join(f"{k} {v}" for k, v in (("kernel", done.kernel_id), ("ramdisk", done.ramdisk_id)) if v)
    state = "registered" if done.created else "already registered"
    typer.echo(f"{done.name}: {state} as {done.image_id}" + (f" ({parts})" if parts else ""))


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
