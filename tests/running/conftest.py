"""The dashboard's browser fixtures, shared with tests/web."""

from tests.web.conftest import aj_browser, aj_dashboard, aj_page, aj_web_app  # noqa: F401
