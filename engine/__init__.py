"""FlowMate engine: the framework-free core (models, services, executor, queue, actions).

Never import reflex from here: workers and the CLI run without the web app.
"""
