"""FlowMate web app (Reflex): pages, per-feature state, shared components and REST routes."""
