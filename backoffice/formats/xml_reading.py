"""Reading an ISO 20022 XML document, as the message readers share it: `holdings` (semt.002),
`sese024` (sese.024, sese.025) and `camt053` (camt.053).

`parse_document` parses the text with defusedxml, which refuses a DTD, an entity declaration or
an external reference before anything is expanded (`unsafe_xml`), records the line of every
element so that each problem can name it, and stops at once on elements nesting deeper than the
reader's limit or on XML that is not well-formed (`malformed_xml`). `unsupported_document` is
the problem of a root that is not the Document a reader expects. `ParsedDocument` finds elements
by paths of local names in the document's namespace and gives each its source (file, line,
XPath). `schema_problems` validates against the official schema (`schema_invalid`, the XPath
without namespaces as the field).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from xml.etree import ElementTree

import xmlschema
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from backoffice.errors import Problem, Source
from backoffice.money import plain_number

__all__ = [
    "LineRecordingBuilder",
    "NestingTooDeep",
    "ParsePosition",
    "ParsedDocument",
    "local_name",
    "namespace_of",
    "parse_document",
    "schema_problems",
    "unsupported_document",
    "xs_decimal",
]

# A "{namespace}" before a name: a URI, so it holds a ':' ("{urn:iso:...}Ntry"), which a
# pattern's quantifier ("[A-Z]{6,6}") never does; those must reach the reason as written.
_NAMESPACED = re.compile(r"\{[^{}:]*:[^{}]*\}")


class NestingTooDeep(Exception):
    """Raised from inside the parser to stop at once on nesting over the builder's depth_max."""


@dataclass(frozen=True, slots=True)
class ParsePosition:
    """Where the parser is now: the line, and the byte offset in the UTF-8 of the text."""

    line_now: Callable[[], int]
    byte_now: Callable[[], int]


class LineRecordingBuilder(ElementTree.TreeBuilder):
    """Builds the tree, remembering each element's line, and refuses too deep a nesting."""

    def __init__(self, position: ParsePosition, depth_max: int) -> None:
        super().__init__()
        self.lines: dict[ElementTree.Element, int] = {}
        self.depth_max = depth_max
        self.position = position
        self._depth = 0

    def start(self, tag: str, attrs: dict[str, str], /) -> ElementTree.Element:
        self._depth += 1
        if self._depth > self.depth_max:
            raise NestingTooDeep
        element = super().start(tag, attrs)
        self.lines[element] = self.position.line_now()
        return element

    def end(self, tag: str, /) -> ElementTree.Element:
        self._depth -= 1
        return super().end(tag)


_Builder = TypeVar("_Builder", bound=LineRecordingBuilder)


def parse_document(
    text: str, file: str, builder_type: type[_Builder], depth_max: int
) -> tuple[ElementTree.Element, _Builder] | Problem:
    """The root of `text` and the builder that recorded it (its `lines`, and whatever a
    subclass records), or the one problem that stopped the parse."""

    def line_now() -> int:
        return int(parser.parser.CurrentLineNumber)

    def byte_now() -> int:
        return int(parser.parser.CurrentByteIndex)

    # The builder is the parser's target, so it is made first and reads the parser's position
    # through these closures, which look the parser up only once it exists.
    builder = builder_type(ParsePosition(line_now, byte_now), depth_max)
    parser = DefusedXMLParser(
        target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        # A str: the bytes were checked as UTF-8, whatever the prolog says, and the byte
        # offsets are those of its UTF-8.
        parser.feed(text)
        root = parser.close()
    except DefusedXmlException as error:
        return Problem(
            "unsafe_xml",
            f"refused unexpanded ({type(error).__name__}): a DTD, entity declaration or "
            "external reference could expand without bound or reach outside the file",
            Source(file, line_now()),
        )
    except NestingTooDeep:
        reason = f"elements nest deeper than {depth_max}"
        return Problem("malformed_xml", reason, Source(file, line_now()))
    except ElementTree.ParseError as error:
        line, _ = error.position
        return Problem("malformed_xml", f"not well-formed XML: {error}", Source(file, line))
    return root, builder


def local_name(tag: str) -> str:
    """ "{namespace}Ntry" -> "Ntry"."""
    return tag.rpartition("}")[2]


def namespace_of(tag: str) -> str:
    """ "{namespace}Ntry" -> "namespace"; "" for a tag in no namespace."""
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def unsupported_document(
    root: ElementTree.Element, lines: dict[ElementTree.Element, int], file: str, expected: str
) -> Problem:
    """`unsupported_message`: the root is not the Document of `expected` (its namespaces, in
    words) that the reader reads."""
    return Problem(
        "unsupported_message",
        f"a {local_name(root.tag)} in {namespace_of(root.tag) or 'no namespace'}: expected a "
        f"Document of {expected}",
        Source(file, lines.get(root, 1), f"/{local_name(root.tag)}"),
    )


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """One parsed document: its namespace, its elements' lines and the file it came from."""

    namespace: str
    lines: dict[ElementTree.Element, int]
    file: str

    def find(self, element: ElementTree.Element, path: str) -> ElementTree.Element | None:
        return element.find(self._qualified(path))

    def findall(self, element: ElementTree.Element, path: str) -> list[ElementTree.Element]:
        return element.findall(self._qualified(path))

    def text(self, element: ElementTree.Element, path: str) -> str | None:
        found = self.find(element, path)
        return found.text.strip() if found is not None and found.text is not None else None

    def source(self, element: ElementTree.Element | None, xpath: str) -> Source:
        line = self.lines.get(element) if element is not None else None
        return Source(self.file, line if line is not None else 1, xpath)

    def _qualified(self, path: str) -> str:
        return "/".join(f"{{{self.namespace}}}{name}" for name in path.split("/"))


def schema_problems(
    schema: xmlschema.XMLSchema,
    root: ElementTree.Element,
    lines: dict[ElementTree.Element, int],
    file: str,
    *,
    errors_max: int,
    reason_chars_max: int,
    namespaces_in_reason: bool,
) -> list[Problem]:
    """`schema_invalid` for the first `errors_max` errors of `root` against `schema`, each
    reason on one line; `namespaces_in_reason` False drops the "{namespace}" of every name in
    it (camt.053 reads so; the other readers have always kept them)."""
    problems: list[Problem] = []
    # Location hints are off: a document must not make the validator fetch a schema it names.
    for error in schema.iter_errors(root, use_location_hints=False):
        element = error.elem
        line = lines.get(element, 1) if isinstance(element, ElementTree.Element) else 1
        xpath = _NAMESPACED.sub("", error.path) if error.path else None
        reason = " ".join((error.reason or error.message).split())
        if not namespaces_in_reason:
            reason = _NAMESPACED.sub("", reason)
        problems.append(
            Problem("schema_invalid", reason[:reason_chars_max], Source(file, line, xpath))
        )
        if len(problems) >= errors_max:
            break
    return problems


_XS_DECIMAL = re.compile(r"\+?([0-9]*)(?:\.([0-9]*))?")


def xs_decimal(text: str | None) -> str | None:
    """An xs:decimal as a plain decimal string; None when negative, blank or not a number."""
    match = _XS_DECIMAL.fullmatch((text or "").strip())
    if match is None or not (match[1] or match[2]):
        return None
    return plain_number(match[1], match[2])
