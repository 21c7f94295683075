"""What the engine raises: each error names the thing the user has to fix."""


class WdlError(Exception):
    """The WDL source or one of its imports does not parse or typecheck."""

    def __init__(self, message: str, *, uri: str = "main.wdl", line: int | None = None,
                 column: int | None = None, source_line: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.uri = uri  # the file name as the user knows it: the main file, or a path inside the imports zip
        self.line = line
        self.column = column
        self.source_line = source_line  # the text of the offending line, when known

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.uri}: {self.message}"
        return f"{self.uri}:{self.line}:{self.column}: {self.message}"

    @property
    def detail(self) -> str:
        """Return the message with the offending line and a caret under its column, as shown to users."""
        if self.line is None or self.source_line is None:
            return str(self)
        text = self.source_line.expandtabs(4)[:200]
        gutter = f"{self.line} | "
        caret = " " * (len(gutter) - 2) + "| " + " " * max(0, min((self.column or 1) - 1, len(text))) + "^"
        return f"{self}\n{gutter}{text}\n{caret}"


class InputError(Exception):
    """A run's inputs JSON does not fit the workflow's inputs."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class EvalError(Exception):
    """A WDL expression failed while the run went on (a workflow declaration, call inputs, a task's command)."""

    def __init__(self, message: str, *, where: str = "", uri: str | None = None,
                 line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where  # the call or declaration being evaluated, e.g. "call-hello-2" or "task hello"
        self.uri = uri
        self.line = line
        self.column = column

    def __str__(self) -> str:
        position = f"{self.uri}:{self.line}:{self.column}: " if self.uri and self.line else ""
        where = f"{self.where}: " if self.where else ""
        return f"{where}{position}{self.message}"


class OutputError(Exception):
    """A task's outputs could not be collected after its command ran."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name  # the output's name in the task, e.g. "counts"
        self.message = message

    def __str__(self) -> str:
        return f"output {self.name}: {self.message}"


class LimitError(Exception):
    """A run went past one of its limits (calls per run, saved state size, a step's time or memory)."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit  # the limit's name, as operators set it: "max_calls_per_run"
        self.message = message

    def __str__(self) -> str:
        return self.message
