"""Views: how each command's results are shown, one module per command, each with a
human rendering (Terraform-style text) and a JSON one (and, for plans, a Markdown
comment). Views write and decide nothing; they import no operation (only the
result values operations return). On a terminal they write through the console
(``views.console``), the one writer of the terminal.
"""

from reconciler.views.about import CompletionView, VersionHuman, VersionJson, VersionView
from reconciler.views.apply import ApplyHuman, ApplyJson, ApplyView
from reconciler.views.base import JsonView, Streams, View, is_terminal
from reconciler.views.console import Console, TerminalTraits, open_console
from reconciler.views.markdown import PlanMarkdown
from reconciler.views.plan import PlanHuman, PlanJson
from reconciler.views.quota import QuotaHuman, QuotaJson, QuotaView
from reconciler.views.run import RunHuman, RunQuiet, RunView
from reconciler.views.state import StateHuman, StateJson
from reconciler.views.validate import ValidateHuman, ValidateJson, ValidateView

PlanView = PlanHuman | PlanJson | PlanMarkdown

__all__ = [
    "ApplyHuman",
    "ApplyJson",
    "ApplyView",
    "CompletionView",
    "Console",
    "JsonView",
    "PlanHuman",
    "PlanJson",
    "PlanMarkdown",
    "PlanView",
    "QuotaHuman",
    "QuotaJson",
    "QuotaView",
    "RunHuman",
    "RunQuiet",
    "RunView",
    "StateHuman",
    "StateJson",
    "Streams",
    "TerminalTraits",
    "ValidateHuman",
    "ValidateJson",
    "ValidateView",
    "VersionHuman",
    "VersionJson",
    "VersionView",
    "View",
    "is_terminal",
    "open_console",
]
