"""An example FlowMate plugin: the ``example.greeting`` action and the ``greeting_studio`` connection type."""
