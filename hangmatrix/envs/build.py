"""Cell environments, built or reused: one gevent release (or a local gevent wheel) on one interpreter, with the
greenlet, setuptools and zope packages of that release's own time (resolved as of its upload date), plus the
program's own requirements. An old gevent against a greenlet from years later is an environment defect that
looks like a deadlock, so every new env is checked in a short child before use: an env that is not sound
(install or import failure, a greenlet binary mismatch, a hang at import) raises EnvError, remembered in the
cache, and its cells become `env-error`, never a hang."""

import hashlib
import os
import shutil
import time
from dataclasses import asdict

from ..model import requirements
from . import builders, cache, deps, files, index, steps
from .errors import EnvError
from .pkg import parse_wheel_filename

_CHECK = (
    "import gevent, gevent.monkey, greenlet; gevent.monkey.patch_all(); gevent.sleep(0.01); "
    "print(gevent.__version__ + ' ' + greenlet.__version__)"
)


def ensure_env(interpreter, gevent, cache_dir=None, retry=False, requires=(), newest=False):
    """The env of a gevent release on the interpreter, resolved as of the release's date, built and checked
    or reused; a manifest on disk means reuse without starting any process. A failed build is remembered
    with its reason and not retried unless retry is set. Raises EnvError with a one-line reason.
    requires: the program's requirements, installed beside gevent and resolved as of the same date (or, with
    newest, as of the build); they are part of the env's key."""
    requires = _requirements(requires)
    newest = bool(newest and requires)  # nothing to resolve: the plain env
    return _ensure(
        interpreter,
        "gevent" + gevent + deps.label(requires, newest),
        gevent,
        "gevent==" + gevent,
        lambda: index.cutoff(interpreter, gevent),
        cache_dir,
        retry,
        requires,
        newest,
    )


def ensure_wheel_env(interpreter, wheels, cache_dir=None, retry=False, requires=(), newest=False):
    """The env of a local gevent wheel (a build the index does not have): the first of wheels (a path or a
    list) that fits the interpreter, its dependencies resolved as of today; cached by the wheel's content."""
    wheels = [wheels] if isinstance(wheels, str) else list(wheels)
    fitting = [w for w in wheels if index.fits(os.path.basename(w), index.supported_tags(interpreter))]
    if not fitting:
        raise EnvError(
            "no wheel for Python %s (%s) among %s"
            % (interpreter.version, interpreter.abi, ", ".join(os.path.basename(w) for w in wheels)),
            lasting=True,
        )
    wheel = os.path.abspath(fitting[0])
    with open(wheel, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    gevent = str(parse_wheel_filename(os.path.basename(wheel))[1])
    requires = _requirements(requires)
    newest = bool(newest and requires)
    return _ensure(
        interpreter,
        "wheel-" + digest + deps.label(requires, newest),
        gevent,
        wheel,
        lambda: files.now()[:10],
        cache_dir,
        retry,
        requires,
        newest,
    )


def _requirements(requires):
    try:
        return requirements.normalize(requires)
    except requirements.RequirementError as exc:
        raise EnvError(str(exc), lasting=True) from None


def _ensure(interp, label, gevent, requirement, resolution_date, cache_dir, retry, requires=(), newest=False):
    """Reuse the finished env KEY-label-DATE, or build it under a lock (DATE from resolution_date(), asked
    only when building); the manifest is written last, so a killed build never looks complete."""
    base = cache.home(cache_dir)
    envs_dir = cache.envs_dir(interp, base)
    prefix = "%s-%s%s" % (interp.key, label, builders.layout(interp))
    failed = cache.failed_marker(base, prefix)
    found = cache.finished(envs_dir, prefix)
    if found:
        return cache.load(found, interp)
    if os.path.exists(failed) and not retry:
        with open(failed) as f:
            raise EnvError(f.read().strip(), lasting=True)
    cutoff = resolution_date()
    os.makedirs(envs_dir, exist_ok=True)
    with files.locked(cache.lock_path(base, prefix)):
        found = cache.finished(envs_dir, prefix)  # built by someone else meanwhile
        if found:
            return cache.load(found, interp)
        path = os.path.join(envs_dir, "%s-%s" % (prefix, cutoff))
        shutil.rmtree(path, ignore_errors=True)  # what a killed build left (it has no manifest)
        try:
            manifest = _build(interp, gevent, requirement, cutoff, path, base, requires, newest)
        except EnvError as exc:
            shutil.rmtree(path, ignore_errors=True)
            if exc.lasting:
                with open(failed, "w") as f:
                    f.write(str(exc) + "\n")
            raise
        if os.path.exists(failed):
            os.unlink(failed)
        files.write_json(os.path.join(path, cache.MANIFEST), manifest)
    return cache.load(os.path.join(path, cache.MANIFEST), interp, reused=False)


def _build(interp, gevent, requirement, cutoff, path, base, requires=(), newest=False):
    """Build, add the requirements, check; the manifest (everything installed, and how) when sound."""
    started = time.time()
    python, builder, late = builders.make(interp, requirement, cutoff, path, base)
    requires_as_of = (files.now()[:10] if newest else cutoff) if requires else ""
    if requires:
        late = dict(late, **builders.add_requires(interp, python, path, requires, None if newest else cutoff, late))
    check = check_sound(interp, python, path, gevent)
    packages = builders.installed(path)
    if packages.get("gevent") != gevent:
        raise EnvError("asked for gevent %s, installed %s" % (gevent, packages.get("gevent")), lasting=True)
    return {
        "gevent": gevent,
        "greenlet": packages.get("greenlet", ""),
        "python": python,
        "packages": packages,
        "requirement": requirement,
        "resolved_as_of": cutoff,
        "late_wheels": late,
        "builder": builder,
        "requires": list(requires),
        "requires_newest": newest,
        "requires_as_of": requires_as_of,
        "requires_resolved": {n: packages.get(n, "") for n in requirements.names(requires)},
        "check": check,
        "interpreter": asdict(interp),
        "built": files.now(),
        "build_seconds": round(time.time() - started, 1),
    }


def check_sound(interp, python, path, gevent):
    """Import and patch in a short child: a greenlet binary mismatch, an import failure or a hang (the
    mismatch can hang even without patching) is a defect of the env, not a cell result."""
    argv = interp.command([python, "-E", "-W", "always::RuntimeWarning", "-c", _CHECK])
    done = steps.check(argv, text=True, cwd=path)
    if done is None:
        raise EnvError(
            "gevent %s hung at import/patch_all, for %ds and again for %ds (greenlet %s)"
            % (gevent, steps.CHECK_TIMEOUT, steps.CHECK_TIMEOUT * steps.RECHECK_FACTOR, _greenlet(path)),
            lasting=True,
        )
    mismatch = [line for line in done.stderr.splitlines() if "size changed" in line]
    if mismatch:
        raise EnvError(
            "greenlet %s is binary-incompatible with gevent %s: %s" % (_greenlet(path), gevent, mismatch[0].strip()),
            lasting=True,
        )
    if done.returncode < 0:
        raise EnvError(
            "gevent %s (greenlet %s) crashed with signal %d at import/patch_all/sleep"
            % (gevent, _greenlet(path), -done.returncode),
            lasting=True,
        )
    if done.returncode != 0:
        raise EnvError(
            "gevent %s does not import and patch: %s" % (gevent, steps.last_lines(done.stderr)), lasting=True
        )
    return done.stdout.strip()


def _greenlet(path):
    return builders.installed(path).get("greenlet", "?")
