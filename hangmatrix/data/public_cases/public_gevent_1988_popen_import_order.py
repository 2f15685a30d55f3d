# hangmatrix: what = `from subprocess import Popen` before monkey.patch_subprocess(), then Popen(['echo', 'ok'])
# hangmatrix: source = https://github.com/gevent/gevent/issues/1988
# hangmatrix: reported = "TypeError: 'NoneType' object is not callable" from subprocess._fork_exec (reporter AMecea; gevent 23.7.0, Python 3.11.5, macOS); maintainer jamadden: "You're patching in the wrong order."
# hangmatrix: expect = ^ok$
from gevent import monkey
from subprocess import Popen

monkey.patch_subprocess()

Popen(['echo', 'ok'])
