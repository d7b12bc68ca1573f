"""Built-in connection types (one class each, registered with engine.registry.connection_type)."""
