"""The README names the app's tabs in the order the app shows them."""

from __future__ import annotations

import inspect
import re

from live_app import ROOT


def app_tab_titles() -> list[str]:
    import app

    return [re.search(r'gr\.Tab\("([^"]+)"', inspect.getsource(tab))[1] for tab in app.TABS]


def test_readme_lists_the_tabs_in_the_apps_order():
    titles = app_tab_titles()
    readme = " ".join((ROOT / "README.md").read_text().split())  # line breaks -> spaces
    page = readme[readme.index("page, in the order of its tabs:") :]
    page = page[: page.index("App options")]
    named = re.findall(r"\*\*([^*]+)\*\*", page)
    assert [t for t in named if t in titles] == titles
