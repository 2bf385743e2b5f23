"""The LES emulator's own hardened XML parser for MLP requests (a copy kept apart from the platform's, so a bug in
one cannot hide behind the same bug in the other; the emulators import nothing from the platform's parsers).

No DTD content, no entity declarations (hence no entity expansion and no external entities), no DTD fetch, a size
cap and a depth cap, UTF-8 only. Anything else raises :class:`XmlRejected`, answered with an MLP FORMAT ERROR.

How, in two passes of the same parser (expat) over the same bytes, so both read the document in the same encoding:

1. a guard pass with no element handlers (C speed) whose DTD handlers refuse any internal DTD subset
   (``<!DOCTYPE x [...]>``: element, attribute-default and entity declarations), any entity declaration and any
   external entity reference. Because expat does the refusing, an encoding trick cannot hide the markup from it:
   a UTF-16 document without a byte-order mark is read as UTF-16 by this pass exactly as by the next one. The bare
   ``<!DOCTYPE svc_init SYSTEM "MLP_SVC_INIT_350.DTD">`` line every MLP spec example carries names an external DTD
   and is tolerated: expat never fetches it, and nothing in it can reach the document;
2. ElementTree's C parser builds the tree (defusedxml's parser does pass 1 and 2 in one, but through the pure-Python
   tree builder: about 1.6 times slower on a 2,000-position ``tlrep``).

Before both, the bytes must be valid UTF-8 without NUL (a NUL is never legal XML, and every UTF-16 document of
ASCII markup is full of them) and declare no other encoding.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import NoReturn
from xml.parsers import expat

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
    guard_dtd(body)
    parser = ET.XMLParser()  # noqa: S314  (guard_dtd refused every DTD construct first; see the module docstring)
    try:
        parser.feed(body)
        root = parser.close()
    except ET.ParseError as exc:
        raise XmlRejected(f"not well-formed XML: {exc}") from None
    if not isinstance(root, ET.Element):
        raise XmlRejected("not an XML element")
    _check_depth(root, max_depth)
    return root


def guard_dtd(body: bytes) -> None:
    """Refuse, whatever the encoding, any internal DTD subset, entity declaration or external entity reference."""
    guard = expat.ParserCreate()

    def doctype(name: str, system_id: str | None, public_id: str | None, has_internal_subset: int) -> None:
        if has_internal_subset:
            _refuse("DTD")

    guard.StartDoctypeDeclHandler = doctype
    guard.EntityDeclHandler = lambda *_: _refuse("entity declaration")
    guard.UnparsedEntityDeclHandler = lambda *_: _refuse("entity declaration")
    guard.ExternalEntityRefHandler = lambda *_: _refuse("external entity")
    try:
        guard.Parse(body, True)
    except expat.ExpatError as exc:
        raise XmlRejected(f"not well-formed XML: {exc}") from None


def _refuse(what: str) -> NoReturn:
    raise XmlRejected(f"forbidden XML construct: {what}")


def _check_utf8(body: bytes) -> None:
    match = _ENCODING_DECL.match(body)
    if match and match.group(1).lower().replace(b"_", b"-") not in {b"utf-8", b"utf8"}:
        raise XmlRejected(f"unsupported encoding {match.group(1).decode('ascii')}; MLP is UTF-8")
    if b"\x00" in body:
        raise XmlRejected("document is not UTF-8 (NUL byte)")
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
