"""The command line's words: the exit codes, the environment, and two or three
examples that end each command's help; and the help formatter, which shows every
option's default."""

from __future__ import annotations

import argparse

ROOT_EPILOG = """\
exit codes:
  0        success; with plan --detailed-exitcode, no changes
  1        error: invalid input, lock busy, a task failed, a fatal cloud error
  2        plan --detailed-exitcode: there are changes
  3        apply declined at the prompt
  130/143  plan or apply interrupted by SIGINT / SIGTERM (run exits 0 then)

environment:
  TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY, TENCENTCLOUD_TOKEN
                       credentials (or a profile file, a CVM role, TKE OIDC)
  RECONCILER_STATE     the state store (--state)
  RECONCILER_ENDPOINT  the TRTC API endpoint (--endpoint)
  RECONCILER_LOG_LEVEL the log level (--log-level)
  RECONCILER_MAX_STOPS the blast-radius guard of plan, apply and run (--max-stops)
  RECONCILER_QUOTA, RECONCILER_QUOTA_GROUP
                       the shared API quota (--quota, --quota-group)
  NO_COLOR             any value: no colour (--no-color); TERM=dumb too"""

QUOTA = (
    "share the API quota with the account's other runners through this postgresql:// "
    "database, or 'off' (env RECONCILER_QUOTA; default: the state's database when the "
    "state is on PostgreSQL, else off)"
)
QUOTA_GROUP = (
    "the group of runners sharing one quota (env RECONCILER_QUOTA_GROUP; default: one "
    "per account, named from the credentials without revealing them)"
)

EXAMPLES: dict[str, tuple[str, ...]] = {
    "reconciler": (
        "reconciler plan manifests/ --out plan.json",
        "reconciler apply plan.json",
        "reconciler plan --help",
    ),
    "validate": ("reconciler validate", "reconciler validate manifests/ --json"),
    "plan": (
        "reconciler plan",
        "reconciler plan manifests/ --out plan.json --detailed-exitcode",
        "reconciler plan --markdown > plan.md",
    ),
    "show": (
        "reconciler show plan.json",
        "reconciler show plan.json --markdown > comment.md",
        "reconciler show plan.json --json",
    ),
    "apply": (
        "reconciler apply",
        "reconciler apply plan.json",
        "reconciler apply manifests/ --auto-approve --json --max-stops 50",
    ),
    "state": (
        "reconciler state list",
        "reconciler state pull > state.json",
        "reconciler state push state.json --state 'postgresql://reconciler@db/reconciler?state=prod'",
    ),
    "state list": ("reconciler state list", "reconciler state list --json"),
    "state show": (
        "reconciler state show 1400000001/task-a",
        "reconciler --state 'postgresql://reconciler@db/reconciler?state=prod' "
        "state show 1400000001/task-a",
    ),
    "state rm": (
        "reconciler state rm 1400000001/task-a",
        "reconciler state rm 1400000001/task-a 1400000001/task-b --lock-timeout 30s",
    ),
    "state pull": (
        "reconciler state pull > state.json",
        "reconciler state pull --state 'postgresql://reconciler@db/reconciler?state=prod'",
    ),
    "state push": (
        "reconciler state push state.json --state 'postgresql://reconciler@db/reconciler'",
        "reconciler state push state.json --force",
    ),
    "run": (
        "reconciler run --interval 5m",
        "reconciler run manifests/ --interval 5m --jitter 30s --metrics-addr 0.0.0.0:9100",
        "reconciler run manifests/ --interval 1h --max-stops 50",
    ),
    "quota": (
        "reconciler quota --state 'postgresql://reconciler@db/reconciler'",
        "reconciler quota --quota 'postgresql://reconciler@db/quota' --json",
    ),
    "schema": (
        "reconciler schema > reconciler.schema.json",
        "reconciler schema | jq .properties.spec",
    ),
    "version": ("reconciler version", "reconciler version --json"),
    "completion": (
        "reconciler completion bash > ~/.local/share/bash-completion/completions/reconciler",
        'reconciler completion zsh > "${fpath[1]}/_reconciler"',
        "reconciler completion fish > ~/.config/fish/completions/reconciler.fish",
    ),
    "emulator": (
        "reconciler emulator --port 8080 --seed-manifests manifests",
        "reconciler emulator --latency 0.1 --fault internal=0.05",
    ),
}


def examples(command: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[command])


def shown_default(value: object) -> str:
    """A default as a person reads it."""
    if value is None or value == []:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's lines, and ends each option's help with its default unless
    the text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            action.option_strings
            and "default" not in text
            and "required" not in text
            and action.default is not argparse.SUPPRESS
            and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))
        ):
            text += f" (default: {shown_default(action.default)})".replace("%", "%%")
        return text
