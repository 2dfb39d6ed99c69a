"""aglais-hub in JupyterLab: the booking status item (package, time left, Extend),
the Register button and the logout warning for level-0 users; and the Zeppelin flavour
(zeppelin.py): Apache Zeppelin behind jupyter-server-proxy, with the same countdown,
warnings and Register in its pages.

The browser talks only to this jupyter-server extension (``/aglais/status``,
``/aglais/extend``); the extension asks the booking service with the single-user
server's own token ($JUPYTERHUB_API_TOKEN), so no hub token reaches the page.
"""

from __future__ import annotations

__version__ = "0.1.0"


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "aglais-hub-lab"}]


def _jupyter_server_extension_points():
    return [{"module": "aglais_lab"}]


def _link_jupyter_server_extension(serverapp):
    from . import zeppelin

    zeppelin.link(serverapp)


def _load_jupyter_server_extension(serverapp):
    from . import zeppelin
    from .handlers import setup_handlers

    setup_handlers(serverapp)
    zeppelin.setup_handlers(serverapp)


# jupyter-server < 2 (and notebook's shim) look for this name
load_jupyter_server_extension = _load_jupyter_server_extension
