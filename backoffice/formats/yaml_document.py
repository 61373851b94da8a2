"""YAML as the reference-data and rules files use it: safe, every mapping's line remembered,
and a key repeated within one mapping refused.

PyYAML keeps the last of repeated keys silently (`{type: liability, type: asset}` would open
an asset account); the FIX and CSV readers already refuse a repeated field, so this does too.
"""

from __future__ import annotations

from typing import Any

import yaml

from backoffice.errors import Problem, ProblemError, Source

LINE_KEY = "__line__"  # where each mapping started, 1-based; readers pop it
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key = key
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # `<<: *defaults` merges on purpose; keys given after it override
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                continue  # unhashable: SafeLoader refuses it itself, with its mark
            if key in seen:
                raise _DuplicateKey(str(key), key_node.start_mark.line + 1)
            seen.add(key)
        mapping = super().construct_mapping(node, deep=deep)
        mapping[LINE_KEY] = node.start_mark.line + 1
        return mapping


def load_yaml(text: str, file: str) -> object:
    """The document of `text`; `ProblemError` (`malformed_yaml`, `duplicate_field`) naming the
    file, the line and, for a repeated key, the field."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as duplicate:
        raise ProblemError(
            Problem(
                "duplicate_field",
                f"key {duplicate.key!r} is given more than once in one mapping",
                Source(file, duplicate.line, duplicate.key),
            )
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = str(getattr(error, "problem", None) or error)
        raise ProblemError(Problem("malformed_yaml", reason, Source(file, line))) from error


def without_lines(value: object) -> object:
    """`value` with the remembered lines taken out of every mapping, for readers that do not
    name lines."""
    if isinstance(value, dict):
        return {key: without_lines(item) for key, item in value.items() if key != LINE_KEY}
    if isinstance(value, list):
        return [without_lines(item) for item in value]
    return value
