"""Hardened XML parsing for MLP documents.

No entity expansion, no external entities, no DTD fetch (a ``<!DOCTYPE svc_init SYSTEM "...">`` line is
allowed and ignored), a size cap and a depth cap, UTF-8 only. Anything else raises :class:`XmlRejected`,
which both sides turn into an MLP FORMAT ERROR instead of a crash.

How: the document must be valid UTF-8 (checked first, so no encoding trick can hide markup from the next
check), must not declare any entity (``<!ENTITY`` anywhere: no internal entities, hence no billion laughs, and
no external entities, hence no XXE), and is then parsed by expat through ElementTree's C parser, which never
fetches an external DTD and rejects references to undeclared entities. This is what ``defusedxml`` checks too,
done as one byte scan so the fast C tree builder can be used (defusedxml forces the pure-Python one, 5x slower
on pushed reports).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

# 64 KiB holds an SLIR for a few hundred MSIDs; a legitimate request is never near it.
DEFAULT_MAX_BYTES = 65_536
# The deepest MLP request (tlrr > tlrr_event > change_area > target_area > shape > Polygon > outerBoundaryIs >
# LinearRing > coord > X) is about 12 levels below svc_init.
DEFAULT_MAX_DEPTH = 32

_ENCODING_DECL = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


class XmlRejected(ValueError):
    """The document is not acceptable MLP XML; ``reason`` is safe to echo in ADD_INFO."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_xml(body: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH) -> ET.Element:
    """Parse ``body`` into an element tree or raise :class:`XmlRejected`."""
    if len(body) > max_bytes:
        raise XmlRejected(f"document larger than {max_bytes} bytes")
    _check_utf8(body)
    if b"<!ENTITY" in body:
        raise XmlRejected("forbidden XML construct: entity declaration")
    parser = ET.XMLParser()  # noqa: S314  (see the module docstring: no entities can reach it)
    try:
        parser.feed(body)
        root = parser.close()
    except ET.ParseError as exc:
        raise XmlRejected(f"not well-formed XML: {exc}") from None
    if not isinstance(root, ET.Element):
        raise XmlRejected("not an XML element")
    _check_depth(root, max_depth)
    return root


def _check_utf8(body: bytes) -> None:
    match = _ENCODING_DECL.match(body)
    if match and match.group(1).lower().replace(b"_", b"-") not in {b"utf-8", b"utf8"}:
        raise XmlRejected(f"unsupported encoding {match.group(1).decode('ascii')}; MLP is UTF-8")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise XmlRejected("document is not valid UTF-8") from None


def _check_depth(root: ET.Element, max_depth: int) -> None:
    level, depth = [root], 1
    while level:  # level by level: MLP documents are wide (many pos), not deep
        if depth > max_depth:
            raise XmlRejected(f"document nested deeper than {max_depth} levels")
        level = [child for node in level for child in node]
        depth += 1


def text_of(parent: ET.Element, path: str) -> str | None:
    """Stripped text of the first element at ``path`` under ``parent``, or None."""
    node = parent.find(path)
    if node is None or node.text is None:
        return None
    return node.text.strip()
