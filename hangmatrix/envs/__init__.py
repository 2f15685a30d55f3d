"""Interpreters and cell environments: where a cell's Python and gevent come from.

- interpreters: discovery (pyenv, uv, PATH, explicit paths) and lookup by version or path;
- debian_root: Python 3.14/3.15 from a Debian unstable root, built once, entered through chroot;
- index: the package index's releases and upload times, wheel tags, each release's own period;
- builders: the three ways an env is made (uv, virtualenv + pip for 2.7, uv into the root);
- build: ensure_env / ensure_wheel_env, built once, checked sound, reused from the cache;
- cache: where envs live, their manifests, remembered failures; env: a built Env and chroot staging;
- deps: the programs' own requirements; errors: EnvError, which makes a cell `env-error`.
The `hangmatrix envs` command is hangmatrix.cli.envs.
"""
