"""Standard library functions that build collections, refusing one larger than a run may have calls."""
from WDL import Error, StdLib, Type, Value


def over_calls(what: str, limit: int) -> str:
    """Say that what is over the team's call limit, naming the limit as operators set it."""
    return f"{what}: that is over its team's limit max_calls_per_run of {limit:,} calls per run"


def bound_collections(stdlib: StdLib.Base, max_items: int) -> None:
    """Make the stdlib's range() and cross() fail before building more than max_items items."""
    stdlib.range = _BoundedRange(max_items)
    stdlib.cross = _BoundedCross(max_items)


class _BoundedRange(StdLib._Range):
    """range(n) that refuses an n over the run's call limit before building the array."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def _call_eager(self, expr, arguments: list[Value.Base]) -> Value.Base:
        n = arguments[0].coerce(Type.Int()).value
        if n > self._limit:
            raise Error.EvalError(expr, over_calls(f"range({n}) would have more than {self._limit:,} items",
                                                    self._limit))
        return super()._call_eager(expr, arguments)


class _BoundedCross(StdLib._Cross):
    """cross(a, b) that refuses more pairs than the run's call limit before building them."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def _call_eager(self, expr, arguments: list[Value.Base]) -> Value.Base:
        pairs = len(arguments[0].value) * len(arguments[1].value)
        if pairs > self._limit:
            raise Error.EvalError(expr, over_calls(f"cross() would make {pairs:,} pairs", self._limit))
        return super()._call_eager(expr, arguments)
