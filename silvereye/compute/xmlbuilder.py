"""Declarative XML objects for libvirt documents, on ElementTree.

After virt-manager's ``virtinst/xmlbuilder.py``: a class per XML element,
whose attributes are declared against short paths relative to that element
(``"name"`` is a child's text, ``"@type"`` an attribute, ``"source/@file"``
an attribute of a grandchild). The machinery below serialises an object to
an ``Element`` and parses one back, so a document can be built from values,
written, read back and compared. Values always go through ElementTree, so
they are escaped; nothing here formats strings into XML.

Paths are deliberately a tiny subset of XPath: ``/``-separated element names
optionally ending in ``@attribute``; ``"."`` is the element's own text.
Element order in the output follows declaration order, which is what makes
golden-file tests stable.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, ClassVar


def _qualify(tag: str, namespace: str | None) -> str:
    return f"{{{namespace}}}{tag}" if namespace and not tag.startswith("{") else tag


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _from_text(text: str | None, kind: type) -> Any:
    if text is None:
        return None
    if kind is bool:
        return text.strip() in ("yes", "on", "1", "true")
    if kind is int:
        return int(text.strip())
    return text


class _Field:
    """Something declared on an XMLObject class, written and read in declaration order."""

    name: str = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._values.get(self.name, self._default())

    def __set__(self, obj: Any, value: Any) -> None:
        obj._values[self.name] = value

    def _default(self) -> Any:
        return None

    def write(self, obj: XMLObject, el: ET.Element) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, obj: XMLObject, el: ET.Element) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class XMLProperty(_Field):
    """A scalar stored in an attribute or element text at ``path``."""

    def __init__(self, path: str, kind: type = str):
        self.path = path
        self.kind = kind

    def _split(self, ns: str | None) -> tuple[list[str], str | None]:
        parts = [p for p in self.path.split("/") if p and p != "."]
        attr = None
        if parts and parts[-1].startswith("@"):
            attr = parts.pop()[1:]
        return [_qualify(p, ns) for p in parts], attr

    def write(self, obj: XMLObject, el: ET.Element) -> None:
        value = obj._values.get(self.name)
        if value is None:
            return
        elements, attr = self._split(obj.NAMESPACE)
        target = el
        for tag in elements:
            found = target.find(tag)
            target = found if found is not None else ET.SubElement(target, tag)
        if attr is None:
            target.text = _to_text(value)
        else:
            target.set(attr, _to_text(value))

    def read(self, obj: XMLObject, el: ET.Element) -> None:
        elements, attr = self._split(obj.NAMESPACE)
        target: ET.Element | None = el
        for tag in elements:
            target = target.find(tag) if target is not None else None
        if target is None:
            return
        raw = target.get(attr) if attr else target.text
        if raw is not None:
            obj._values[self.name] = _from_text(raw, self.kind)


class XMLFlag(_Field):
    """True when an empty child element is present (``<acpi/>`` in ``<features>``)."""

    def __init__(self, tag: str):
        self.tag = tag

    def write(self, obj: XMLObject, el: ET.Element) -> None:
        if obj._values.get(self.name):
            ET.SubElement(el, _qualify(self.tag, obj.NAMESPACE))

    def read(self, obj: XMLObject, el: ET.Element) -> None:
        if el.find(_qualify(self.tag, obj.NAMESPACE)) is not None:
            obj._values[self.name] = True


class XMLChild(_Field):
    """One nested XMLObject, optionally inside a container element (``"devices"``)."""

    def __init__(self, cls: type[XMLObject], container: str | None = None):
        self.cls = cls
        self.container = container

    def _parent(self, obj: XMLObject, el: ET.Element, create: bool) -> ET.Element | None:
        if not self.container:
            return el
        tag = _qualify(self.container, obj.NAMESPACE)
        found = el.find(tag)
        if found is None and create:
            found = ET.SubElement(el, tag)
        return found

    def write(self, obj: XMLObject, el: ET.Element) -> None:
        child = obj._values.get(self.name)
        if child is not None:
            self._parent(obj, el, True).append(child.to_element())

    def read(self, obj: XMLObject, el: ET.Element) -> None:
        parent = self._parent(obj, el, False)
        found = parent.find(self.cls.qualified_tag()) if parent is not None else None
        if found is not None:
            obj._values[self.name] = self.cls.from_element(found)


class XMLChildList(XMLChild):
    """A list of nested XMLObjects of one class (every ``<disk>`` of ``<devices>``)."""

    def _default(self) -> Any:
        return []

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._values.setdefault(self.name, [])

    def write(self, obj: XMLObject, el: ET.Element) -> None:
        children = obj._values.get(self.name) or []
        if children:
            parent = self._parent(obj, el, True)
            for child in children:
                parent.append(child.to_element())

    def read(self, obj: XMLObject, el: ET.Element) -> None:
        parent = self._parent(obj, el, False)
        found = parent.findall(self.cls.qualified_tag()) if parent is not None else []
        obj._values[self.name] = [self.cls.from_element(f) for f in found]


class XMLObject:
    """Base of every element class: declare TAG and fields, get to/from XML for free."""

    TAG: ClassVar[str] = ""
    NAMESPACE: ClassVar[str | None] = None
    PREFIX: ClassVar[str | None] = None  # namespace prefix used when writing

    def __init__(self, **values: Any):
        self._values: dict[str, Any] = {}
        fields = self.fields()
        for key, value in values.items():
            if key not in fields:
                raise TypeError(f"{type(self).__name__} has no field {key!r}")
            setattr(self, key, value)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.NAMESPACE and cls.PREFIX:
            ET.register_namespace(cls.PREFIX, cls.NAMESPACE)

    @classmethod
    def fields(cls) -> dict[str, _Field]:
        out: dict[str, _Field] = {}
        for klass in reversed(cls.__mro__):
            for key, value in vars(klass).items():
                if isinstance(value, _Field):
                    out.pop(key, None)
                    out[key] = value
        return out

    @classmethod
    def qualified_tag(cls) -> str:
        return _qualify(cls.TAG, cls.NAMESPACE)

    def to_element(self) -> ET.Element:
        el = ET.Element(self.qualified_tag())
        for field in self.fields().values():
            field.write(self, el)
        return el

    @classmethod
    def from_element(cls, el: ET.Element) -> XMLObject:
        if el.tag != cls.qualified_tag():
            raise ValueError(f"expected <{cls.TAG}>, found <{el.tag}>")
        obj = cls()
        for field in cls.fields().values():
            field.read(obj, el)
        return obj

    def to_xml(self) -> str:
        el = self.to_element()
        ET.indent(el, space="  ")
        return ET.tostring(el, encoding="unicode") + "\n"

    @classmethod
    def from_xml(cls, text: str) -> XMLObject:
        return cls.from_element(ET.fromstring(text))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_xml() == other.to_xml()  # type: ignore[union-attr]

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values.items() if v not in (None, []))
        return f"{type(self).__name__}({shown})"
