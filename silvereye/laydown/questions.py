"""The questions install asks, FastStart-style: each with a default read from the host.

Four things cannot be guessed safely and are asked: the interface facing
the outside world, the addresses elastic IPs may use, the NTP server and the
DNS domain. Each default comes from, in order: the configuration file
already on the host (so a second install proposes what the first one
chose), then what :func:`~silvereye.laydown.answers.detect_defaults` reads
from the running system. ``--yes`` takes every default; ``--answers FILE``
takes the file's answers (the DVD's first boot does both); otherwise each
question is asked on the terminal and a wrong answer is explained in one
line and asked again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.prompt import Prompt

from silvereye.errors import SilvereyeError
from silvereye.laydown import answers as answers_mod
from silvereye.laydown.answers import Answers, AnswersError

Ask = Callable[[str, str], str]  # (question, default) -> answer

QUESTIONS: list[tuple[str, str]] = [
    ("interface", "Interface facing the outside world"),
    ("public_ips", "Addresses for elastic IPs (first-last or a CIDR on that interface's subnet; empty: none)"),
    ("ntp_server", "NTP server"),
    ("dns_domain", "DNS domain of the cloud"),
]


def defaults_for_host(existing: dict[str, Any], detect: Callable[[], dict[str, Any]] = answers_mod.detect_defaults,
                      describe: Callable[[str], dict[str, Any]] = answers_mod.interface_network) -> dict[str, Any]:
    """Raw answers for this host: the configuration file's choices over what the host shows."""
    out = detect()
    net_cfg = existing.get("network") if isinstance(existing.get("network"), dict) else {}
    iface = net_cfg.get("interface")
    if iface and iface != out.get("network", {}).get("interface"):
        out["network"] = describe(str(iface))
    if net_cfg.get("public_range"):
        out["public_ips"] = net_cfg["public_range"]
    if net_cfg.get("ntp_server"):
        out["ntp_server"] = net_cfg["ntp_server"]
    if existing.get("dns_domain"):
        out["dns_domain"] = existing["dns_domain"]
    return out


def _prompt(console: Console) -> Ask:
    def ask(question: str, default: str) -> str:
        return Prompt.ask(question, default=default, console=console, show_default=True)

    return ask


def gather(
    role: str | None,
    *,
    answers_file: Path | None,
    assume_yes: bool,
    existing: dict[str, Any],
    console: Console,
    interactive: bool,
    ask: Ask | None = None,
    detect: Callable[[], dict[str, Any]] = answers_mod.detect_defaults,
    describe: Callable[[str], dict[str, Any]] = answers_mod.interface_network,
    interfaces: Callable[[], list[str]] = answers_mod.interfaces_with_address,
) -> Answers:
    """The validated answers for this install (AnswersError: one line naming the field)."""
    defaults = defaults_for_host(existing, detect, describe)
    if role is not None:
        defaults["role"] = role
    if answers_file is not None:
        result = answers_mod.load(answers_file, defaults=defaults)
        if role is not None and result.role != role:
            flag = answers_mod.INSTALL_FLAGS[role]
            raise AnswersError(f"answers {answers_file}: role: {result.role!r} contradicts {flag}; "
                               "change the file's role or the flag")
        return result
    if role is None:
        raise SilvereyeError("say what this host becomes: --cloud-in-a-box, --frontend or --node "
                             "(or give an --answers file with a role)")
    data = dict(defaults)
    current = answers_mod.parse({}, source="detected defaults", defaults=data) if assume_yes else None
    if current is not None:
        return current
    if not interactive:
        raise SilvereyeError("there is no terminal to ask the install questions on: pass --yes to take the "
                             "detected defaults, or --answers FILE")
    return _ask_all(data, console, ask or _prompt(console), describe, interfaces)


def _ask_all(data: dict[str, Any], console: Console, ask: Ask, describe: Callable[[str], dict[str, Any]],
             interfaces: Callable[[], list[str]]) -> Answers:
    console.print("[bold]A few questions[/bold] (Enter takes the value in brackets):")
    for key, question in QUESTIONS:
        while True:
            if key == "interface":
                default = str(data.get("network", {}).get("interface", ""))
                known = interfaces()
                text = question + (f" ({', '.join(known)})" if known else "")
            else:
                default, text = str(data.get(key) or ""), question
            reply = ask(text, default).strip()
            trial = dict(data)
            if key == "interface":
                if reply != default:
                    trial["network"] = describe(reply)
            else:
                trial[key] = reply
            try:
                answers_mod.parse({}, source="your answer", defaults=trial)
            except AnswersError as e:
                console.print(f"[red]{e}[/red]")
                continue
            data = trial
            break
    return answers_mod.parse({}, source="your answers", defaults=data)
