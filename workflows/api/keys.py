"""Cromwell's includeKey/excludeKey filter of metadata fields."""

# What the filter does with a field: drop it, keep it whole, or look inside it.
DROP, KEEP, DESCEND = object(), object(), object()


class KeyFilter:
    """Cromwell's key filter: a key is kept when its flattened name ("outputs:wf.x", "failures[0]:message")
    starts with an includeKey (any, when none is given) and with no excludeKey."""

    def __init__(self, include=(), exclude=()):
        self.include = [k for k in include if k]
        self.exclude = [k for k in exclude if k]
        self.everything = not self.include and not self.exclude
        self._decisions: dict[str, object] = {}  # a top-level field name -> KEEP, DROP or DESCEND

    def wants(self, name: str) -> bool:
        """Tell whether anything under a top-level field could be kept (to skip building it)."""
        if any(name.startswith(k) for k in self.exclude):
            return False
        return not self.include or any(name.startswith(k) or k.startswith(name) for k in self.include)

    def decision(self, name: str):
        """Return DROP, KEEP or DESCEND for a field of this name (the same for every call)."""
        decision = self._decisions.get(name)
        if decision is None:
            decision = self._decisions[name] = self._decide(name)
        return decision

    def fields(self, fields: dict) -> dict:
        """Return the fields (and parts of fields) the filter keeps."""
        if self.everything:
            return fields
        kept = {}
        for name, value in fields.items():
            decision = self.decision(name)
            if decision is KEEP:
                kept[name] = value
            elif decision is DESCEND:
                value = self._value(name, value)
                if value is not DROP:
                    kept[name] = value
        return kept

    def _decide(self, key: str):
        # the same answer for every call: decided once per field name, not once per call
        include_all = not self.include or any(key.startswith(k) for k in self.include)
        if not include_all and not any(k.startswith(key) for k in self.include):
            return DROP
        if any(key.startswith(k) for k in self.exclude):
            return DROP
        if include_all and not any(k.startswith(key) for k in self.exclude):
            return KEEP
        return DESCEND

    def _value(self, key: str, value):
        include_all = not self.include or any(key.startswith(k) for k in self.include)
        if not include_all and not any(k.startswith(key) for k in self.include):
            return DROP
        if any(key.startswith(k) for k in self.exclude):
            return DROP
        deeper_exclude = any(k.startswith(key) for k in self.exclude)
        if include_all and not deeper_exclude:
            return value
        if isinstance(value, dict) and value:
            kept = {}
            for name, item in value.items():
                item = self._value(f"{key}:{name}", item)
                if item is not DROP:
                    kept[name] = item
            return kept or DROP
        if isinstance(value, list) and value:
            kept = [item for item in (self._value(f"{key}[{i}]", item) for i, item in enumerate(value))
                    if item is not DROP]
            return kept or DROP
        return value if include_all else DROP
