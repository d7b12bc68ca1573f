"""Built-in actions: one module per action, registered with @action."""
