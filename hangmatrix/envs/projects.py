"""A project's own package in its cell environments: installed non-editable from a copy of the project
(content-addressed in the cache), so an environment is keyed by the project's content, and neither the
project's folder nor an environment changes when the other does."""

import os
import shutil

from . import cache, env


def requirement(project, base=None):
    """The requirement that installs project (a model.project.Project that is a package) from its copy:
    `name @ file:///…/projects/HASH/folder`, the hash its content's (what envs.env stages by)."""
    digest = env._content_hash(project.folder)
    dest = os.path.join(cache.home(base), "projects", digest, os.path.basename(project.folder))
    if not os.path.isdir(dest):
        tmp = "%s.tmp-%d" % (dest, os.getpid())
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copytree(project.folder, tmp, ignore=shutil.ignore_patterns("*.pyc", *env._NOT_STAGED), symlinks=True)
        try:
            os.rename(tmp, dest)
        except OSError:  # copied by another process first
            shutil.rmtree(tmp, ignore_errors=True)
    return "%s @ file://%s" % (project.name, dest)
