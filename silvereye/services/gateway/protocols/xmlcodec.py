"""XML bodies driven by shapes, shared by the Query, EC2 and REST-XML protocols.

:class:`XmlWriter` turns a value into ElementTree elements by its shape (the
rules botocore's XML response parser reads: ``locationName``, flattened
lists and maps, ``xmlAttribute``, ``xmlNamespace``); :class:`XmlReader` reads
a request body back into params by the same rules. Values only ever reach
the document through ElementTree, which escapes them.

:func:`parse_xml` refuses DTDs and entity declarations outright, so a
request body cannot expand entities (billion laughs) or reach files.
"""

from __future__ import annotations

import functools

from xml.etree import ElementTree as ET
from xml.parsers import expat

from silvereye.services.gateway.protocols import values
from silvereye.services.gateway.protocols.base import dispatch
from silvereye.services.gateway.protocols.validate import ErrorStyle, Step

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class XmlRefused(ValueError):
    """The document uses a feature we do not accept (DTD, entity declarations)."""


def local_name(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def parse_xml(data: bytes) -> ET.Element:
    """Parse a request body into elements with namespace prefixes dropped from tags.

    Raises ValueError for a body that is not well-formed XML or declares a DTD.
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True

    def refuse(*_args):
        raise XmlRefused("DTDs and entity declarations are not accepted")

    parser.StartElementHandler = lambda name, attrs: builder.start(local_name(name), attrs)
    parser.EndElementHandler = lambda name: builder.end(local_name(name))
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
        return builder.close()
    except expat.ExpatError as exc:
        raise ValueError(f"malformed XML: {exc}") from None
    except AssertionError:  # TreeBuilder: no element at all
        raise ValueError("malformed XML: no root element") from None


def to_bytes(root: ET.Element) -> bytes:
    """The document, with carriage returns in text kept as &#13; (a parser would fold CRLF to LF)."""
    text = ET.tostring(root, encoding="unicode").replace("\r", "&#13;")
    return XML_DECLARATION + text.encode("utf-8")


def add_namespace(shape, element: ET.Element) -> bool:
    """Declare the shape's xmlNamespace on the element; False when the shape has none."""
    ns = shape.serialization.get("xmlNamespace")
    if isinstance(ns, dict):
        attr = "xmlns:" + ns["prefix"] if ns.get("prefix") else "xmlns"
        element.set(attr, ns["uri"])
    elif isinstance(ns, str):
        element.set("xmlns", ns)
    return bool(ns)


def member_xml_name(member_shape, member_name: str) -> str:
    """The element a structure member travels as: its locationName, else its name (Smithy's rule)."""
    return member_shape.serialization.get("name", member_name)


def flattened_item_name(member_shape) -> str | None:
    """The locationName of a flattened list's items, if the model gives one.

    AWS's older XML services name flattened items that way (SimpleDB's
    ``<Item>``), and botocore's parser looks for it first; Smithy names them
    after the member. The reader accepts both; the writer follows botocore.
    No model silvereye serves gives the two different names.
    """
    if member_shape.type_name == "list" and member_shape.serialization.get("flattened"):
        return member_shape.member.serialization.get("name")
    return None


INPUT_LOCATIONS = ("uri", "querystring", "header", "headers", "statusCode")
# Smithy: query and label bindings mean nothing in a response; such members go in the body.
OUTPUT_LOCATIONS = ("header", "headers", "statusCode")


def body_members(shape, bound=INPUT_LOCATIONS):
    """Members of a structure that live in the XML body rather than in a ``bound`` location."""
    return _body_members(shape, bound)


@functools.lru_cache(maxsize=4096)
def _body_members(shape, bound) -> tuple:
    # Cached per shape object (botocore caches each shape's members): a response of 500 EC2
    # instances writes some 16,000 structures, and listing their members dominated its cost.
    return tuple(
        (name, member)
        for name, member in shape.members.items()
        if member.serialization.get("location") not in bound
    )


class XmlWriter:
    """Writes values as elements, by shape. ``_serialize_<type>(shape, value, parent, name)``."""

    def __init__(self, *, timestamp_default: str = values.ISO8601, always_millis: bool = False):
        self.timestamp_default = timestamp_default
        self.always_millis = always_millis

    def write_members(self, shape, value: dict, element: ET.Element) -> None:
        """Write a structure's body members into an existing element."""
        for name, member in body_members(shape, OUTPUT_LOCATIONS):
            item = value.get(name)
            if item is None:
                continue
            if member.serialization.get("xmlAttribute"):
                element.set(member.serialization.get("name", name), self._text(member, item))
                continue
            self.write(member, item, element, flattened_item_name(member) or member_xml_name(member, name))

    def write(self, shape, value, parent: ET.Element, name: str) -> None:
        dispatch(self, "_serialize", shape)(shape, value, parent, name)

    def _serialize_structure(self, shape, value, parent, name):
        element = ET.SubElement(parent, name)
        add_namespace(shape, element)
        if shape.is_document_type:
            raise TypeError(f"document type {shape.name!r} cannot be written as XML")
        self.write_members(shape, value, element)

    def _serialize_list(self, shape, value, parent, name):
        item_shape = shape.member
        if shape.serialization.get("flattened"):
            for item in value:
                if item is not None:
                    self.write(item_shape, item, parent, name)
            return
        wrapper = ET.SubElement(parent, name)
        add_namespace(shape, wrapper)
        item_name = item_shape.serialization.get("name", "member")
        for item in value:
            if item is not None:
                self.write(item_shape, item, wrapper, item_name)

    def _serialize_map(self, shape, value, parent, name):
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        if shape.serialization.get("flattened"):
            holder, entry_name = parent, name
        else:
            holder, entry_name = ET.SubElement(parent, name), "entry"
            add_namespace(shape, holder)
        for key, item in value.items():
            if item is None:
                continue
            entry = ET.SubElement(holder, entry_name)
            self.write(shape.key, key, entry, key_name)
            self.write(shape.value, item, entry, value_name)

    def _serialize_scalar(self, shape, value, parent, name):
        element = ET.SubElement(parent, name)
        add_namespace(shape, element)
        element.text = self._text(shape, value)

    _serialize_string = _serialize_character = _serialize_boolean = _serialize_scalar
    _serialize_integer = _serialize_long = _serialize_scalar
    _serialize_float = _serialize_double = _serialize_timestamp = _serialize_blob = _serialize_scalar

    def _text(self, shape, value) -> str:
        kind = shape.type_name
        if kind == "boolean":
            return "true" if value else "false"
        if kind in ("float", "double"):
            return values.float_text(value)
        if kind in ("integer", "long"):
            return str(int(value))
        if kind == "timestamp":
            fmt = values.timestamp_format(shape, self.timestamp_default)
            if fmt == values.ISO8601:
                return values.iso8601(values.to_datetime(value), always_millis=self.always_millis)
            return str(values.format_timestamp(value, fmt))
        if kind == "blob":
            return values.b64encode(value)
        if kind in ("string", "character"):
            return str(value)
        raise TypeError(f"{kind} is not a scalar")


class XmlReader:
    """Reads a request's XML elements into params, by shape. ``_parse_<type>(shape, node, path)``."""

    def __init__(self, errors: ErrorStyle):
        self.errors = errors

    def read(self, shape, node, path: tuple[Step, ...] = ()):
        return dispatch(self, "_parse", shape)(shape, node, path)

    def read_members(self, shape, element: ET.Element, path: tuple[Step, ...] = ()) -> dict:
        """Read a structure's body members out of an element."""
        children: dict[str, list[ET.Element]] = {}
        for child in element:
            children.setdefault(child.tag, []).append(child)
        parsed: dict = {}
        for name, member in body_members(shape):
            step = path + (Step(name, member),)
            if member.serialization.get("xmlAttribute"):
                attr = member.serialization.get("name", name)
                value = element.get(attr)
                if value is None:
                    value = next((v for k, v in element.attrib.items() if local_name(k) == local_name(attr)), None)
                if value is not None:
                    parsed[name] = self.read(member, _Text(value), step)
                continue
            nodes = next((children[k] for k in _element_names(member, name) if k in children), None)
            if not nodes:
                continue
            flattened = member.serialization.get("flattened") and member.type_name in ("list", "map")
            parsed[name] = self.read(member, nodes if flattened else nodes[0], step)
        return parsed

    def _parse_structure(self, shape, node, path):
        if shape.is_document_type:
            raise TypeError(f"document type {shape.name!r} cannot be read from XML")
        return self.read_members(shape, node, path)

    def _parse_list(self, shape, node, path):
        if shape.serialization.get("flattened"):
            items = node if isinstance(node, list) else [node]
        else:
            item_name = shape.member.serialization.get("name", "member")
            items = [child for child in node if child.tag == item_name]
        return [self.read(shape.member, item, path + (Step(str(i), None, "index"),)) for i, item in enumerate(items, 1)]

    def _parse_map(self, shape, node, path):
        entries = (node if isinstance(node, list) else [node]) if shape.serialization.get("flattened") else [
            child for child in node if child.tag == "entry"
        ]
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        parsed = {}
        for entry in entries:
            key_node = entry.find(key_name)
            value_node = entry.find(value_name)
            if key_node is None or value_node is None:
                raise self.errors.malformed(path, "", "a map entry with a key and a value", "body")
            key = self.read(shape.key, key_node, path)
            parsed[key] = self.read(shape.value, value_node, path + (Step(str(key), None, "key"),))
        return parsed

    def _parse_string(self, shape, node, path):
        return node.text or ""

    _parse_character = _parse_string

    def _scalar(self, shape, node, path, convert, expected):
        text = (node.text or "").strip()
        try:
            return convert(text)
        except (ValueError, TypeError, OverflowError):
            raise self.errors.malformed(path, text, expected, "body") from None

    def _parse_boolean(self, shape, node, path):
        return self._scalar(shape, node, path, values.parse_boolean, "a boolean")

    def _parse_integer(self, shape, node, path):
        return self._scalar(shape, node, path, values.parse_integer, "an integer")

    _parse_long = _parse_integer

    def _parse_float(self, shape, node, path):
        return self._scalar(shape, node, path, values.parse_float, "a number")

    _parse_double = _parse_float

    def _parse_timestamp(self, shape, node, path):
        fmt = values.timestamp_format(shape, values.ISO8601)
        return self._scalar(shape, node, path, lambda t: values.parse_timestamp(t, fmt), "a timestamp")

    def _parse_blob(self, shape, node, path):
        return self._scalar(shape, node, path, lambda t: values.b64decode("".join(t.split())), "base64 data")


def _element_names(member_shape, member_name: str) -> tuple[str, ...]:
    """Elements a member may arrive as: its standard name first, then names other clients use.

    botocore names a flattened list's items by the item's locationName, and
    writes a nested structure under its shape's locationName; Smithy uses the
    member's name for both.
    """
    return (member_xml_name(member_shape, member_name), flattened_item_name(member_shape) or "", member_name)


class _Text:
    """An attribute value dressed as an element, so scalar readers take either."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text
