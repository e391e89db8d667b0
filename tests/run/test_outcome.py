"""The commit a record names: read without writing to the checkout."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest

from harness.run import outcome


@pytest.fixture(autouse=True)
def fresh_cache():
    outcome.git_commit.cache_clear()
    yield
    outcome.git_commit.cache_clear()


def fake_git(calls: list, status: object):
    def run(args, **kw):
        calls.append((args, kw))
        if args[1] == "rev-parse":
            return SimpleNamespace(returncode=0, stdout="abc123\n")
        if isinstance(status, BaseException):
            raise status
        return SimpleNamespace(returncode=0, stdout=status)
    return run


def test_status_takes_no_optional_lock(monkeypatch):
    # A status that refreshes the index takes .git/index.lock; under a file-size limit the fault
    # injector's run left that lock behind and every later git command in the checkout failed.
    calls: list = []
    monkeypatch.setattr(outcome.subprocess, "run", fake_git(calls, " M harness/x.py\n"))
    assert outcome.git_commit() == "abc123-dirty"
    status_kw = calls[1][1]
    assert calls[1][0][:2] == ["git", "status"] and status_kw["env"]["GIT_OPTIONAL_LOCKS"] == "0"


def test_a_clean_tree_and_a_status_that_hangs(monkeypatch):
    monkeypatch.setattr(outcome.subprocess, "run", fake_git([], ""))
    assert outcome.git_commit() == "abc123"
    outcome.git_commit.cache_clear()
    monkeypatch.setattr(outcome.subprocess, "run", fake_git([], subprocess.TimeoutExpired("git status", 5)))
    assert outcome.git_commit() == "abc123-unchecked"
