"""``contrib.loaded.loaded_object``: names resolve among loaded modules only, never imported."""

from __future__ import annotations

import collections
import os.path
import sys

import pytest

from activejob_celery.contrib.loaded import loaded_object


def test_dotted_and_colon_paths_find_loaded_objects() -> None:
    assert loaded_object("collections.OrderedDict") is collections.OrderedDict
    assert loaded_object("os.path:join") is os.path.join
    assert loaded_object("collections.OrderedDict.fromkeys") == collections.OrderedDict.fromkeys


def test_a_module_not_loaded_is_not_imported() -> None:
    assert "antigravity" not in sys.modules
    with pytest.raises(LookupError, match="names no loaded module"):
        loaded_object("antigravity.fly")
    assert "antigravity" not in sys.modules


def test_missing_and_private_attributes_are_refused() -> None:
    with pytest.raises(LookupError, match="has no 'Nope'"):
        loaded_object("collections.Nope")
    with pytest.raises(LookupError, match="not a public name"):
        loaded_object("os:__builtins__")
