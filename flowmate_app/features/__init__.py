"""One package per feature: page.py, state.py, components.py."""
