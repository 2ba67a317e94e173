"""Chromium for the dashboard's Forgejo views, in a package of its own.

Playwright's sync API keeps an event loop running on the test thread while
its browser (package scope) is open; the asyncio tests in tests/forge must
not meet it, so the browser opens and closes within this package.
"""

from tests.web.conftest import browser, page

__all__ = ["browser", "page"]
