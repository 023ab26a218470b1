"""Launch buttons (Colab, JupyterHub, Binder) only for a real repository.

``_config.yml``'s ``repository: url:`` is the one setting. Empty, or anything but an
``https://HOST/OWNER/REPOSITORY`` address, and this extension removes the launch buttons
(and the repository buttons) before the theme draws them, so the built book never links to
a placeholder; set it to your fork's address and they appear on every chapter.
"""

from __future__ import annotations

from tools.repository import is_repository_url

__all__ = ["is_repository_url", "hide_launch_buttons_without_repository", "setup"]


def hide_launch_buttons_without_repository(app, config) -> None:
    """``config-inited``: drop launch and repository buttons unless the repository URL is real."""
    options = dict(config.html_theme_options or {})
    if is_repository_url(options.get("repository_url")):
        return
    options.pop("launch_buttons", None)
    options.pop("repository_url", None)
    for button in ("use_repository_button", "use_issues_button", "use_edit_page_button"):
        options[button] = False
    config.html_theme_options = options


def setup(app):
    app.connect("config-inited", hide_launch_buttons_without_repository)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
