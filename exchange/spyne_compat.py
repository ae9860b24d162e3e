"""Importing spyne 2.14 on Python 3.11 without warnings breaking every later import.

spyne ships an old ``six`` whose importer stays on ``sys.meta_path``; it lacks the PEP 451
hooks, so every import after spyne's, of any module, raises an ImportWarning (an error under
the tests' ``filterwarnings=error``).  spyne also imports the deprecated ``cgi`` module.
Importing this module first gives the importer its hooks and loads spyne's modules with
those two warnings silenced; after it, ``from spyne ... import ...`` is quiet.
"""

from __future__ import annotations

import warnings
from importlib.util import spec_from_loader
from typing import Any


def _modernize_six(importer_class: type[Any]) -> None:
    """Give spyne's vendored six (1.14) the import hooks six 1.16 added (PEP 451)."""
    if hasattr(importer_class, "find_spec"):
        return

    def find_spec(self: Any, fullname: str, path: Any, target: Any = None) -> Any:
        return spec_from_loader(fullname, self) if fullname in self.known_modules else None

    def create_module(self: Any, spec: Any) -> Any:
        return self.load_module(spec.name)

    def exec_module(self: Any, module: Any) -> None:
        return None  # load_module did it all

    importer_class.find_spec = find_spec
    importer_class.create_module = create_module
    importer_class.exec_module = exec_module


with warnings.catch_warnings():
    warnings.simplefilter("ignore", ImportWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    from spyne.util import six as _six

    _modernize_six(type(_six._importer))
    import spyne
    import spyne.interface.wsdl
    import spyne.model.primitive
    import spyne.protocol.soap
    import spyne.server.wsgi  # noqa: F401
