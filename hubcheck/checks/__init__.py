"""Built-in checks, one module per family. Each is registered in pyproject.toml under the
``hubcheck.checks`` entry-point group, the same way a plugin package registers its own."""
