"""``version`` (text or JSON) and ``completion`` (the script, as it is)."""

from __future__ import annotations

from reconciler.results import Versions
from reconciler.views.base import JsonLines, JsonView, View


class VersionHuman(View):
    def versions(self, versions: Versions) -> None:
        rows = versions.to_json()
        width = max(len(name) for name in rows)
        rows["libyaml"] = versions.libyaml or "not available (the pure-Python YAML parser is used)"
        for name, value in rows.items():
            self.print(f"{name:<{width}}  {value or 'not installed'}")


class VersionJson(JsonView):
    def versions(self, versions: Versions) -> None:
        JsonLines(self.out).emit(versions.to_json())


VersionView = VersionHuman | VersionJson


class CompletionView(View):
    def script(self, text: str) -> None:
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.flush()
