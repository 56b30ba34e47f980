"""``validate``: a success line, or the problems (human) / one JSON verdict."""

from __future__ import annotations

from reconciler.errors import ReconcilerError
from reconciler.manifest import LoadResult
from reconciler.views.base import JsonLines, JsonView, View, error_document, plural


class ValidateHuman(View):
    def validated(self, result: LoadResult) -> None:
        self.print(
            f"Success! {plural(len(result.tasks), 'task')} in "
            f"{plural(len(result.files), 'file')}, no problems."
        )


class ValidateJson(JsonView):
    def validated(self, result: LoadResult) -> None:
        JsonLines(self.out).emit(
            {"valid": True, "tasks": len(result.tasks), "files": len(result.files)}
        )

    def error(self, exc: ReconcilerError) -> None:
        """The verdict (``"valid": false``) in the same object as the error."""
        JsonLines(self.out).emit({"valid": False, **error_document(exc)})
        View.error(self, exc)


ValidateView = ValidateHuman | ValidateJson
