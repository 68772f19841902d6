"""The one compiled part of the package: the decision log's compact line (engine/runtime/_logline.c).
Everything else is in pyproject.toml.  Without a C compiler the build fails loudly rather than
quietly installing a slower log: durable_rules, a dependency, needs the same compiler."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("engine.runtime._logline", ["engine/runtime/_logline.c"],
                             extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror"])])
