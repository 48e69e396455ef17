"""The shell: gathers inputs through ports, calls the core, applies its results."""
