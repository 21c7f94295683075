"""Cromwell's includeKey/excludeKey filter of metadata fields."""

_DROP, _KEEP, _DESCEND = object(), object(), object()


class KeyFilter:
    """Cromwell's key filter: a key is kept when its flattened name ("outputs:wf.x", "failures[0]:message")
    starts with an includeKey (any, when none is given) and with no excludeKey."""

    def __init__(self, include=(), exclude=()):
        self.include = [k for k in include if k]
        self.exclude = [k for k in exclude if k]
        self.everything = not self.include and not self.exclude
        self._decisions: dict[str, object] = {}  # a top-level field name -> _KEEP, _DROP or _DESCEND

    def wants(self, name: str) -> bool:
        """Tell whether anything under a top-level field could be kept (to skip building it)."""
        if any(name.startswith(k) for k in self.exclude):
            return False
        return not self.include or any(name.startswith(k) or k.startswith(name) for k in self.include)

    def fields(self, fields: dict) -> dict:
        """Return the fields (and parts of fields) the filter keeps."""
        if self.everything:
            return fields
        kept = {}
        for name, value in fields.items():
            decision = self._decisions.get(name)
            if decision is None:
                decision = self._decisions[name] = self._decide(name)
            if decision is _KEEP:
                kept[name] = value
            elif decision is _DESCEND:
                value = self._value(name, value)
                if value is not _DROP:
                    kept[name] = value
        return kept

    def _decide(self, key: str):
        # the same answer for every call: decided once per field name, not once per call
        include_all = not self.include or any(key.startswith(k) for k in self.include)
        if not include_all and not any(k.startswith(key) for k in self.include):
            return _DROP
        if any(key.startswith(k) for k in self.exclude):
            return _DROP
        if include_all and not any(k.startswith(key) for k in self.exclude):
            return _KEEP
        return _DESCEND

    def _value(self, key: str, value):
        include_all = not self.include or any(key.startswith(k) for k in self.include)
        if not include_all and not any(k.startswith(key) for k in self.include):
            return _DROP
        if any(key.startswith(k) for k in self.exclude):
            return _DROP
        deeper_exclude = any(k.startswith(key) for k in self.exclude)
        if include_all and not deeper_exclude:
            return value
        if isinstance(value, dict) and value:
            kept = {}
            for name, item in value.items():
                item = self._value(f"{key}:{name}", item)
                if item is not _DROP:
                    kept[name] = item
            return kept or _DROP
        if isinstance(value, list) and value:
            kept = [item for item in (self._value(f"{key}[{i}]", item) for i, item in enumerate(value))
                    if item is not _DROP]
            return kept or _DROP
        return value if include_all else _DROP
